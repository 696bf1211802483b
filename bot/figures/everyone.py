"""Everyone at once, for exports: `compute(person_scope(p))` for many people in grouped queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.business_time import Calendar
from bot.figures.business import business_durations, calendars_of, median, p90
from bot.figures.model import SAMPLE, STEPS, TOP, Figures
from bot.figures.promises import promise_outcomes, take_outcomes
from bot.figures.query import among, execute, is_pg, ones
from storage.states import OPEN_REQUEST_STATES, Step
from storage.tables import Case, Event, Request

ROW_LIMIT = 500_000


async def compute_by_person(
    session: AsyncSession,
    *,
    people: Sequence[int],
    start: datetime,
    end: datetime,
    now: datetime,
    default: Calendar,
    labels: dict[int, str] | None = None,
) -> dict[int, Figures]:
    """`compute(person_scope(p))` for many people with one grouped query per figure.

    Equal, person by person, to the figures of each one's own scope (tests hold it to that).
    """
    pg = is_pg(session)
    ids = list(people)
    out = {
        pid: Figures(scope=(labels or {}).get(pid, str(pid)), start=start, end=end) for pid in ids
    }
    if not ids:
        return out

    def of(pid: Any) -> Figures | None:
        return out.get(pid)

    rows = (
        await execute(
            session,
            select(
                col(Request.answered_by_id),
                func.count(),
                ones(col(Request.answered_at) <= col(Request.deadline)),
            )
            .where(
                among(col(Request.answered_by_id), ids, pg=pg),
                col(Request.answered_at) >= start,
                col(Request.answered_at) < end,
            )
            .group_by(col(Request.answered_by_id)),
        )
    ).all()
    for pid, n, ok in rows:
        if (f := of(pid)) is not None:
            f.answered, f.on_time = int(n), int(ok)
    if min(end, now) > start:
        rows = (
            await execute(
                session,
                select(col(Request.assignee_id), func.count())
                .where(
                    among(col(Request.assignee_id), ids, pg=pg),
                    col(Request.status).in_(OPEN_REQUEST_STATES),
                    col(Request.deadline) >= start,
                    col(Request.deadline) < min(end, now),
                )
                .group_by(col(Request.assignee_id)),
            )
        ).all()
        for pid, n in rows:
            if (f := of(pid)) is not None:
                f.missed_open = int(n)
    for f in out.values():
        f.due = f.answered + f.missed_open

    answers = (
        await execute(
            session,
            select(col(Request.answered_by_id), col(Request.opened_at), col(Request.answered_at))
            .where(
                among(col(Request.answered_by_id), ids, pg=pg),
                col(Request.answered_at) >= start,
                col(Request.answered_at) < end,
            )
            .order_by(col(Request.answered_at).desc())
            .limit(ROW_LIMIT),
        )
    ).all()
    acks = (
        await execute(
            session,
            select(col(Request.assignee_id), col(Request.opened_at), col(Request.acked_at))
            .where(
                among(col(Request.assignee_id), ids, pg=pg),
                col(Request.acked_at) >= start,
                col(Request.acked_at) < end,
            )
            .order_by(col(Request.acked_at).desc())
            .limit(ROW_LIMIT),
        )
    ).all()
    cals = await calendars_of(session, {r[0] for r in answers} | {r[0] for r in acks}, default)
    both = business_durations(
        [(cals.get(pid, default), a, b) for pid, a, b in answers]
        + [(cals.get(pid, default), a, b) for pid, a, b in acks]
    )
    per: dict[tuple[str, int], list[timedelta]] = {}
    for (pid, _a, _b), d in zip(answers, both[: len(answers)], strict=True):
        per.setdefault(("answer", pid), []).append(d)
    for (pid, _a, _b), d in zip(acks, both[len(answers) :], strict=True):
        per.setdefault(("ack", pid), []).append(d)
    for (what, pid), values in per.items():
        if (f := of(pid)) is None:
            continue
        values = values[:SAMPLE]  # newest first, as in `compute`
        if what == "answer":
            f.answer_median, f.answer_p90 = median(values), p90(values)
        else:
            f.ack_median, f.ack_p90 = median(values), p90(values)

    rows = (
        await execute(
            session,
            select(col(Request.assignee_id), col(Event.kind), func.count())
            .join(Request, col(Request.id) == col(Event.request_id))
            .where(
                col(Event.kind).in_([f"step:{step}" for step in STEPS[:3]]),
                col(Event.at) >= start,
                col(Event.at) < end,
                among(col(Request.assignee_id), ids, pg=pg),
            )
            .group_by(col(Request.assignee_id), col(Event.kind)),
        )
    ).all()
    for pid, kind, n in rows:
        if (f := of(pid)) is not None:
            f.escalations[kind.removeprefix("step:")] = int(n)
    rows = (
        await execute(
            session,
            select(col(Case.owner_id), func.count())
            .select_from(Event)
            .join(Case, col(Case.id) == col(Event.case_id))
            .where(
                col(Event.kind) == "step:promise_at_risk",
                col(Event.at) >= start,
                col(Event.at) < end,
                among(col(Case.owner_id), ids, pg=pg),
            )
            .group_by(col(Case.owner_id)),
        )
    ).all()
    for pid, n in rows:
        if (f := of(pid)) is not None:
            f.escalations[Step.PROMISE_AT_RISK.value] = int(n)

    resolved_in = and_(
        among(col(Case.owner_id), ids, pg=pg),
        col(Case.resolved_at) >= start,
        col(Case.resolved_at) < end,
    )
    rows = (
        await execute(
            session,
            select(
                col(Case.owner_id),
                func.count(),
                ones(col(Case.promise_kept).is_(True)),
                ones(col(Case.promise_kept).is_(False)),
                func.coalesce(func.sum(col(Case.handoffs)), 0),
                func.count(col(Case.csat)),
                func.coalesce(func.sum(col(Case.csat)), 0),
                ones(col(Case.csat) >= 4),
                *promise_outcomes(),
            )
            .where(resolved_in)
            .group_by(col(Case.owner_id)),
        )
    ).all()
    for pid, *values in rows:
        if (f := of(pid)) is not None:
            (
                f.cases_resolved,
                f.promises_kept,
                f.promises_broken,
                f.handoffs,
                f.csat_count,
                f.csat_sum,
                f.csat_satisfied,
                *outcomes,
            ) = (int(v) for v in values)
            take_outcomes(f, outcomes)
    rows = (
        await execute(
            session,
            select(col(Case.owner_id), func.coalesce(func.sum(col(Request.redirects)), 0))
            .join(Case, col(Case.id) == col(Request.case_id))
            .where(resolved_in)
            .group_by(col(Case.owner_id)),
        )
    ).all()
    for pid, n in rows:
        if (f := of(pid)) is not None and f.handoffs:
            f.redirects = int(n)

    opened_in = and_(
        among(col(Case.owner_id), ids, pg=pg),
        col(Case.opened_at) >= start,
        col(Case.opened_at) < end,
    )
    category = func.coalesce(col(Case.category), "uncategorised")
    rows = (
        await execute(
            session,
            select(col(Case.owner_id), category, func.count())
            .where(opened_in)
            .group_by(col(Case.owner_id), category)
            .order_by(col(Case.owner_id), func.count().desc(), category),
        )
    ).all()
    for pid, cat, n in rows:
        if (f := of(pid)) is not None:
            f.cases_opened += int(n)
            if len(f.categories) < TOP:
                f.categories.append((str(cat), int(n)))
    rows = (
        await execute(
            session,
            select(col(Case.owner_id), col(Case.customer), func.count())
            .where(opened_in)
            .group_by(col(Case.owner_id), col(Case.customer))
            .having(func.count() > 1)
            .order_by(col(Case.owner_id), func.count().desc(), col(Case.customer)),
        )
    ).all()
    for pid, customer, n in rows:
        if (f := of(pid)) is not None:
            f.repeat_customer_count += 1
            if len(f.repeat_customers) < TOP:
                f.repeat_customers.append((str(customer), int(n)))
    return out
