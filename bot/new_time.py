"""The honest new time: the earliest a case's promise can still be kept, computed in code.

Each open request is expected by its ETA when one is given and still ahead (inside the deadline or
past it); without one, by its deadline (or now, once that passed) pushed by the slip its holder's
record predicts (`bot.predict.expected_slip`), in the holder's business calendar. The latest of
those, plus the owner's reply buffer in the owner's business hours, rounded up to the next full
hour of the owner's day (or that day's close), is a time the owner can promise and keep.

It is also the answer to "when does the customer hear from us next" (`next_contact`): the promise
while it can be kept, this time once it cannot. It lives beside the ladder rather than in
`bot.cases`, because the ladder's warnings name it and `bot.cases` plans the ladder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.business_time import Calendar
from bot.directory import Rules, calendar_of
from bot.predict import expected_slip
from storage.states import OPEN_REQUEST_STATES, CaseStatus
from storage.tables import Case, Person, Request, Team


@dataclass(frozen=True)
class NewTime:
    """The earliest time the promise can be kept (`at`, rounded as a person writes it), and
    whether the current promise is threatened: the unrounded estimate lands after it."""

    at: datetime
    threatened: bool


async def expected_answer(
    session: AsyncSession, *, req: Request, rules: Rules, now: datetime
) -> datetime:
    """When the request's answer can honestly be expected (never before now)."""
    if req.eta is not None and req.eta > now:
        return req.eta
    holder: Person | Team | None = None
    if req.assignee_id is not None:
        holder = await session.get(Person, req.assignee_id)
    elif req.team_id is not None:
        holder = await session.get(Team, req.team_id)
    cal = calendar_of(holder, rules.calendar)
    slip = (
        await expected_slip(session, target=holder, cal=cal, now=now)
        if holder is not None
        else timedelta(0)
    )
    if not slip and cal.between(now, req.deadline):
        # Some of their day is left before the deadline: they answer by it. (Adding nothing to a
        # deadline outside their hours would count from their next morning.)
        return req.deadline
    return cal.add(max(req.deadline, now), slip)


async def honest_new_time(
    session: AsyncSession, *, case: Case, rules: Rules, now: datetime
) -> NewTime:
    """The earliest time the case's promise can still be kept, from its open requests."""
    owner = await session.get(Person, case.owner_id)
    owner_cal = calendar_of(owner, rules.calendar)
    waiting = (
        await session.exec(
            select(Request).where(
                Request.case_id == case.id, col(Request.status).in_(OPEN_REQUEST_STATES)
            )
        )
    ).all()
    ready = now
    for req in waiting:
        ready = max(ready, await expected_answer(session, req=req, rules=rules, now=now))
    exact = owner_cal.add(ready, rules.policy.buffer)
    threatened = case.promise_at is not None and exact > case.promise_at
    return NewTime(at=round_up(exact, owner_cal), threatened=threatened)


def round_up(at: datetime, cal: Calendar) -> datetime:
    """`at` rounded up to the next full hour of the calendar's clock, kept within that business
    day (a day closing at 17:30 offers 17:30, not 18:00)."""
    local = at.astimezone(cal.zone)
    if local.minute or local.second or local.microsecond:
        local = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    up = local.astimezone(UTC)
    close = cal.end_of_day(at - timedelta(microseconds=1))
    return min(up, close) if at <= close else up


async def next_contact(
    session: AsyncSession, *, case: Case, rules: Rules, now: datetime
) -> datetime | None:
    """When the customer hears from us next: the promise while it can still be kept, the honest
    new time once it cannot (or once it passed); None for a case without a promise, or closed."""
    if case.promise_at is None or case.status != CaseStatus.OPEN:
        return None
    found = await honest_new_time(session, case=case, rules=rules, now=now)
    return found.at if found.threatened else case.promise_at
