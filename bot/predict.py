"""Breach prediction: will this colleague (or team) answer by the deadline, judging by their record?

When an owner asks, the asked person's (or team's) last `HISTORY` requests are measured against
the new request's window in their own business time: how many were answered within that long.
When few were, the owner hears it at once ("Dana Billing answered 3 of their last 10 billing
questions within 4 business hours"), so they can ask someone else or promise the customer less.

One query of at most `HISTORY * 2` rows, the newest of each index it reads (a person's requests
by assignee and by who answered them, or a team's), so its cost does not grow with a busy
colleague's record; the same category is preferred when there are enough of those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlmodel
from sqlalchemy import CompoundSelect, Select, bindparam, select, union
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import track_record
from bot.business_time import Calendar
from bot.figures import execute
from bot.messages import Action, Message, message, sentence
from storage.states import RequestStatus
from storage.tables import Case, Person, Request, Team

HISTORY = 10
MIN_HISTORY = 5
UNLIKELY = 0.5


@dataclass(frozen=True)
class Forecast:
    who: str
    met: int
    of: int
    window: timedelta
    category: str | None

    @property
    def likelihood(self) -> float:
        """Estimated chance of meeting the deadline (Laplace-smoothed share of the record)."""
        return (self.met + 1) / (self.of + 2)

    @property
    def unlikely(self) -> bool:
        return self.of >= MIN_HISTORY and self.met / self.of < UNLIKELY

    def sentence(self) -> str:
        what = f"{self.category} questions" if self.category else "questions"
        return (
            f"{self.who} answered {self.met} of their last {self.of} {what} "
            f"within {business_words(self.window)}."
        )


def business_words(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    if minutes % 60 == 0 and minutes >= 60:
        hours = minutes // 60
        return f"{hours} business hour{'s' if hours != 1 else ''}"
    if minutes < 60:
        return f"{minutes} business minutes"
    return f"{minutes // 60}h{minutes % 60:02d}m of business time"


async def forecast(
    session: AsyncSession,
    *,
    target: Person | Team,
    category: str | None,
    deadline: datetime,
    cal: Calendar,
    now: datetime,
) -> Forecast | None:
    """How the target did on their last requests, measured against this request's window."""
    window = cal.between(now, deadline)
    if window <= timedelta(0) or target.id is None:
        return None
    person = isinstance(target, Person)
    who = target.name if person else f"The {target.name} team"
    kind = "person" if person else "team"
    rows = track_record.read(session, kind, target.id)
    if rows is None:
        params = {"who": target.id, "now": now}
        rows = (await execute(session, _record(person), params)).all()
        track_record.keep(session, kind, target.id, rows, HISTORY * 2)
    decided = []
    # Business time never exceeds the time elapsed, so a span no longer than the window is
    # within it without working out its business time.
    for opened, answered, cat in rows:
        if answered is not None:
            taken = answered - opened
            decided.append((taken <= window or cal.between(opened, answered) <= window, cat))
        elif now - opened > window and cal.between(opened, now) > window:
            decided.append((False, cat))  # still open and already past this window
    same = [d for d in decided if category and d[1] == category]
    use_category = len(same) >= MIN_HISTORY
    chosen = (same if use_category else decided)[:HISTORY]
    if not chosen:
        return None
    return Forecast(
        who=who,
        met=sum(1 for ok, _ in chosen if ok),
        of=len(chosen),
        window=window,
        category=category if use_category else None,
    )


def _newest(whose: Any) -> Select[tuple[object, ...]]:
    """The latest requests whose `whose` is `who`, newest first from its (…, opened_at) index."""
    latest = (
        select(
            col(Request.id), col(Request.case_id), col(Request.opened_at), col(Request.answered_at)
        )
        .where(
            whose == bindparam("who"),
            col(Request.status) != RequestStatus.CANCELLED,
            col(Request.opened_at) < bindparam("now"),
        )
        .order_by(col(Request.opened_at).desc())
        .limit(HISTORY * 2)
        .subquery()
    )
    return select(latest)


@cache
def _record(person: bool) -> Select[tuple[object, ...]]:
    """The statement, built once (building it cost more than running it)."""
    newest: Select[tuple[object, ...]] | CompoundSelect[tuple[object, ...]]
    if person:
        newest = union(_newest(col(Request.assignee_id)), _newest(col(Request.answered_by_id)))
    else:
        newest = _newest(col(Request.team_id))
    rows = newest.subquery()
    return (
        select(rows.c.opened_at, rows.c.answered_at, col(Case.category))
        .join(Case, col(Case.id) == rows.c.case_id)
        .order_by(rows.c.opened_at.desc())
        .limit(HISTORY * 2)
    )


async def warnings(
    session: AsyncSession,
    *,
    target: Person | Team,
    case: Case,
    request: Request,
    cal: Calendar,
    now: datetime,
) -> list[Message]:
    """The owner's warning when the deadline is unlikely to be met (else nothing). The new
    request joins the target's record kept in process (`bot.track_record`)."""
    found = await forecast(
        session,
        target=target,
        category=case.category,
        deadline=request.deadline,
        cal=cal,
        now=now,
    )
    if target.id is not None:
        kind = "person" if isinstance(target, Person) else "team"
        track_record.asked(session, kind, target.id, request.opened_at, case.category, HISTORY * 2)
    if found is None or not found.unlikely:
        return []
    return [
        message(
            "breach_warning",
            case=case.key,
            request=request.key,
            private=True,
            actions=(Action("update", case.key, sentence("action_draft_update")),),
            extra={"likelihood": round(found.likelihood, 2), "met": found.met, "of": found.of},
            history=found.sentence(),
            request_key=request.key,
            window=business_words(found.window),
            customer=case.customer,
            case_key=case.key,
        )
    ]


async def etas_slip(session: AsyncSession, person: Person) -> bool:
    """Whether the person's record says their ETAs slip: of their last answers given with an ETA
    (at least `MIN_HISTORY`), fewer than half came by it. Then an ETA does not hold the at-risk
    warning back."""
    rows = (
        await session.exec(
            sqlmodel.select(col(Request.eta), col(Request.answered_at))
            .where(
                col(Request.answered_by_id) == person.id,
                col(Request.eta).is_not(None),
                col(Request.answered_at).is_not(None),
            )
            .order_by(col(Request.answered_at).desc())
            .limit(HISTORY)
        )
    ).all()
    if len(rows) < MIN_HISTORY:
        return False
    kept = sum(1 for eta, answered in rows if eta and answered and answered <= eta)
    return kept / len(rows) < UNLIKELY


KEEP_SHARE = 0.9
"""The share of a record an honest estimate must cover: the slip that 9 answers in 10 stayed
within, not the typical one, so a time promised on it is kept about as often."""


async def expected_slip(
    session: AsyncSession, *, target: Person | Team, cal: Calendar, now: datetime
) -> timedelta:
    """How far past its deadline the target's answer is expected: the business time (in `cal`)
    by which `KEEP_SHARE` of their last answers at most came late; nothing on a record shorter
    than `MIN_HISTORY`."""
    whose = col(Request.answered_by_id) if isinstance(target, Person) else col(Request.team_id)
    rows = (
        await session.exec(
            sqlmodel.select(col(Request.deadline), col(Request.answered_at))
            .where(
                whose == target.id,
                col(Request.answered_at).is_not(None),
                col(Request.answered_at) <= now,
            )
            .order_by(col(Request.answered_at).desc())
            .limit(HISTORY)
        )
    ).all()
    if len(rows) < MIN_HISTORY:
        return timedelta(0)
    late = sorted(cal.between(deadline, answered) for deadline, answered in rows if answered)
    return late[max(0, math.ceil(KEEP_SHARE * len(late)) - 1)]
