"""Finding a case by its key, its owner, and whether it is open.

Every case service starts here: the key read (`C-42`), the row locked for the change, the case
checked open. Who may act on it was decided before the service ran (`bot.access`).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.deadlines import DeadlineError, parse_deadline
from bot.directory import Rules, calendar_of
from bot.errors import NotFound, Refusal
from bot.wording import sentence
from storage.states import CaseStatus, Platform, Priority
from storage.tables import Case, Person, Team

PRIORITIES: tuple[str, ...] = tuple(Priority)


def parse_key(key: str, prefix: str) -> int:
    try:
        head, num = key.upper().split("-", 1)
        if head != prefix:
            raise ValueError
        return int(num)
    except ValueError:
        what = "cmd_not_a_case_key" if prefix == "C" else "cmd_not_a_request_key"
        raise Refusal(sentence(what, key=key)) from None


async def get_case(session: AsyncSession, key: str, *, lock: bool = False) -> Case:
    case = await session.get(Case, parse_key(key, "C"), with_for_update=lock)
    if case is None:
        raise NotFound(sentence("cmd_no_case", key=key))
    return case


def parse_when(text: str, *, now: datetime, cal_of: Person | Team | None, rules: Rules) -> datetime:
    try:
        return parse_deadline(text, now=now, calendar=calendar_of(cal_of, rules.calendar))
    except DeadlineError as exc:
        raise Refusal(str(exc)) from None


async def owner_of(session: AsyncSession, case: Case) -> Person:
    owner = await session.get(Person, case.owner_id)
    assert owner is not None
    return owner


def require_open(case: Case) -> None:
    if case.status != CaseStatus.OPEN:
        raise Refusal(sentence("cmd_case_not_open", case_key=case.key, status=case.status))


async def attach_thread(
    *,
    session: AsyncSession,
    case: Case,
    platform: Platform,
    channel: str,
    thread: str | None,
    message_id: str | None,
) -> None:
    """Remember where the case card lives: its thread is the case's home on that platform."""
    case.platform, case.channel, case.thread, case.message = platform, channel, thread, message_id
    session.add(case)
