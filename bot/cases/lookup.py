"""Finding a case by its key, its owner, and whether it is open.

Every case service starts here: the key read (`C-42`), the row locked for the change, the case
checked open. Who may act on it was decided before the service ran (`bot.access`).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import people_cache
from bot.deadlines import DeadlineError, parse_deadline
from bot.directory import Rules, calendar_of
from bot.errors import NotFound, Refusal
from bot.messages import sentence
from storage.db import get_row
from storage.states import CaseStatus, Platform, Priority
from storage.tables import Case, Person, Team

PRIORITIES: tuple[str, ...] = tuple(Priority)


LARGEST = 2**31 - 1
"""The largest number a case or request can have (an INTEGER column on PostgreSQL)."""


def parse_key(key: str, prefix: str) -> int:
    """The number of a key (`C-42`: 42). A number no row can have is a key that names nothing
    (`NotFound`, in the words used for any key that does not exist), not a database error."""
    head, _, num = key.upper().partition("-")
    if head != prefix or not (num.isascii() and num.isdigit()):
        what = "cmd_not_a_case_key" if prefix == "C" else "cmd_not_a_request_key"
        raise Refusal(sentence(what, key=shown(key)))
    number = int(num.lstrip("0") or "0") if len(num) <= 20 else LARGEST + 1
    if number > LARGEST:
        missing = "cmd_no_case" if prefix == "C" else "cmd_no_request"
        raise NotFound(sentence(missing, key=shown(key)))
    return number


def shown(key: str) -> str:
    """A key as quoted back to a person: a hostile one cut short."""
    return key if len(key) <= 24 else key[:23] + "…"


async def get_case(session: AsyncSession, key: str, *, lock: bool = False) -> Case:
    case = await get_row(session, Case, parse_key(key, "C"), lock=lock)
    if case is None:
        raise NotFound(sentence("cmd_no_case", key=shown(key)))
    return case


def parse_when(text: str, *, now: datetime, cal_of: Person | Team | None, rules: Rules) -> datetime:
    try:
        return parse_deadline(text, now=now, calendar=calendar_of(cal_of, rules.calendar))
    except DeadlineError as exc:
        raise Refusal(str(exc)) from None


async def owner_of(session: AsyncSession, case: Case) -> Person:
    owner = await people_cache.by_id(session, case.owner_id)
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
