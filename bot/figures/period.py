"""`compute`: all the figures of a scope for a period, in groups of queries that may run at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.business_time import Calendar
from bot.figures.business import business_durations, calendars_of, median, p90
from bot.figures.model import SAMPLE, STEPS, TOP, Figures
from bot.figures.promises import promise_outcomes, take_outcomes
from bot.figures.query import among, execute, ones, reads
from bot.figures.scope import Scope, answered_by, asked_of, owned_by
from storage.db import Database
from storage.states import OPEN_REQUEST_STATES, Step
from storage.tables import Case, Event, Request


async def compute(
    session: AsyncSession,
    *,
    scope: Scope,
    start: datetime,
    end: datetime,
    now: datetime,
    default: Calendar,
    durations: bool = True,
    brief: bool = False,
    db: Database | None = None,
) -> Figures:
    """All figures of `scope` for the period [start, end), as known at `now`.

    `brief` stops after the on-time counts (a comparison with an earlier period needs no more).
    With `db` on PostgreSQL the groups of queries run at once, each on its own connection.
    """
    f = Figures(
        scope=scope.label,
        start=start,
        end=end,
        target_on_time=scope.target_on_time,
        target_first_response_minutes=scope.target_first_response_minutes,
    )
    if not scope.people and not scope.teams:
        return f
    kw: dict[str, Any] = {"scope": scope, "start": start, "end": end, "now": now}
    jobs: dict[str, Callable[[AsyncSession], Awaitable[Any]]] = {
        "on_time": lambda s: _on_time(s, f, **kw)
    }
    if not brief:
        if durations:
            jobs["durations"] = lambda s: _durations(
                s, f, scope=scope, start=start, end=end, default=default
            )
        jobs["escalations"] = lambda s: _escalations(s, f, **kw)
        jobs["resolved"] = lambda s: _resolved(s, f, **kw)
        jobs["opened"] = lambda s: _opened(s, f, **kw)
    await reads(session, db, jobs)
    return f


async def _on_time(
    s: AsyncSession, f: Figures, *, scope: Scope, start: datetime, end: datetime, now: datetime
) -> None:
    answered_in = and_(
        answered_by(scope), col(Request.answered_at) >= start, col(Request.answered_at) < end
    )
    row = (
        await execute(
            s,
            select(
                func.count(),
                ones(col(Request.answered_at) <= col(Request.deadline)),
            ).where(answered_in),
        )
    ).one()
    f.answered, f.on_time = int(row[0]), int(row[1])
    due_end = min(end, now)
    if due_end > start:
        f.missed_open = int(
            (
                await execute(
                    s,
                    select(func.count()).where(
                        asked_of(scope),
                        col(Request.status).in_(OPEN_REQUEST_STATES),
                        col(Request.deadline) >= start,
                        col(Request.deadline) < due_end,
                    ),
                )
            ).one()[0]
        )
    f.due = f.answered + f.missed_open


async def _escalations(
    s: AsyncSession, f: Figures, *, scope: Scope, start: datetime, end: datetime, now: datetime
) -> None:
    steps = (
        await execute(
            s,
            select(col(Event.kind), func.count())
            .join(Request, col(Request.id) == col(Event.request_id))
            .where(
                col(Event.kind).in_([f"step:{step}" for step in STEPS[:3]]),
                col(Event.at) >= start,
                col(Event.at) < end,
                asked_of(scope),
            )
            .group_by(col(Event.kind)),
        )
    ).all()
    promise_steps = (
        await execute(
            s,
            select(func.count())
            .select_from(Event)
            .join(Case, col(Case.id) == col(Event.case_id))
            .where(
                col(Event.kind) == "step:promise_at_risk",
                col(Event.at) >= start,
                col(Event.at) < end,
                owned_by(scope),
            ),
        )
    ).one()
    for kind, n in steps:
        f.escalations[kind.removeprefix("step:")] = int(n)
    f.escalations[Step.PROMISE_AT_RISK.value] = int(promise_steps[0])


async def _resolved(
    s: AsyncSession, f: Figures, *, scope: Scope, start: datetime, end: datetime, now: datetime
) -> None:
    resolved_in = and_(owned_by(scope), col(Case.resolved_at) >= start, col(Case.resolved_at) < end)
    row = (
        await execute(
            s,
            select(
                func.count(),
                ones(col(Case.promise_kept).is_(True)),
                ones(col(Case.promise_kept).is_(False)),
                func.coalesce(func.sum(col(Case.handoffs)), 0),
                func.count(col(Case.csat)),
                func.coalesce(func.sum(col(Case.csat)), 0),
                ones(col(Case.csat) >= 4),
                *promise_outcomes(),
            ).where(resolved_in),
        )
    ).one()
    (
        f.cases_resolved,
        f.promises_kept,
        f.promises_broken,
        f.handoffs,
        f.csat_count,
        f.csat_sum,
        f.csat_satisfied,
        *outcomes,
    ) = (int(v) for v in row)
    take_outcomes(f, outcomes)
    if f.handoffs:
        f.redirects = int(
            (
                await execute(
                    s,
                    select(func.coalesce(func.sum(col(Request.redirects)), 0))
                    .join(Case, col(Case.id) == col(Request.case_id))
                    .where(resolved_in),
                )
            ).one()[0]
        )


async def _opened(
    s: AsyncSession, f: Figures, *, scope: Scope, start: datetime, end: datetime, now: datetime
) -> None:
    opened_in = and_(owned_by(scope), col(Case.opened_at) >= start, col(Case.opened_at) < end)
    category = func.coalesce(col(Case.category), "uncategorised")
    cats = (
        await execute(
            s,
            select(category, func.count())
            .where(opened_in)
            .group_by(category)
            .order_by(func.count().desc(), category),
        )
    ).all()
    f.cases_opened = sum(int(n) for _c, n in cats)
    f.categories = [(str(c), int(n)) for c, n in cats[:TOP]]
    repeat = (
        select(col(Case.customer), func.count().label("n"))
        .where(opened_in)
        .group_by(col(Case.customer))
        .having(func.count() > 1)
    )
    repeats = (
        await execute(s, repeat.order_by(func.count().desc(), col(Case.customer)).limit(TOP))
    ).all()
    f.repeat_customers = [(str(c), int(n)) for c, n in repeats]
    if len(repeats) == TOP:
        f.repeat_customer_count = int(
            (await execute(s, select(func.count()).select_from(repeat.subquery()))).one()[0]
        )
    else:
        f.repeat_customer_count = len(repeats)


async def _durations(
    session: AsyncSession,
    f: Figures,
    *,
    scope: Scope,
    start: datetime,
    end: datetime,
    default: Calendar,
) -> None:
    """Median and p90 business time to acknowledge and to answer, over the newest SAMPLE."""
    answers = (
        await execute(
            session,
            select(col(Request.answered_by_id), col(Request.opened_at), col(Request.answered_at))
            .where(
                answered_by(scope),
                col(Request.answered_at) >= start,
                col(Request.answered_at) < end,
            )
            .order_by(col(Request.answered_at).desc())
            .limit(SAMPLE),
        )
    ).all()
    acks = (
        await execute(
            session,
            select(col(Request.assignee_id), col(Request.opened_at), col(Request.acked_at))
            .where(
                among(col(Request.assignee_id), scope.people, pg=scope.pg),
                col(Request.acked_at) >= start,
                col(Request.acked_at) < end,
            )
            .order_by(col(Request.acked_at).desc())
            .limit(SAMPLE),
        )
    ).all()
    cals = await calendars_of(session, {r[0] for r in answers} | {r[0] for r in acks}, default)
    both = business_durations(
        [(cals.get(pid, default), a, b) for pid, a, b in answers]
        + [(cals.get(pid, default), a, b) for pid, a, b in acks]
    )
    answer_times, ack_times = both[: len(answers)], both[len(answers) :]
    f.answer_median, f.answer_p90 = median(answer_times), p90(answer_times)
    f.ack_median, f.ack_p90 = median(ack_times), p90(ack_times)
