"""What a digest says: what is at risk now, and the figures of its period against the targets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select
from sqlmodel import col, func
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import charts, figures
from bot.business_time import format_when
from bot.directory import Rules, calendar_of, mention
from bot.figures import execute
from bot.messages import Code, Message, Segment, compose, join, sentence
from bot.notices import when_for
from bot.policy import format_duration
from storage.db import Database
from storage.states import OPEN_REQUEST_STATES, Step, TimerOutcome
from storage.tables import Case, Person, Request, Timer

LISTED = 8
WEEKS = 12


def _pct(x: float | None) -> str:
    return f"{100 * x:.0f} %" if x is not None else "—"


def _dur(d: timedelta | None) -> str:
    return format_duration(d) if d is not None else "—"


async def at_risk_now(
    session: AsyncSession, *, scope: figures.Scope, now: datetime
) -> tuple[int, list[tuple[Request, Case]]]:
    """Open requests of the scope that are overdue, or whose at-risk step has fired."""
    if not scope.people and not scope.teams:
        return 0, []
    fired = exists().where(
        col(Timer.request_id) == col(Request.id),
        col(Timer.step) == Step.AT_RISK,
        col(Timer.outcome) == TimerOutcome.FIRED,
    )
    cond = (
        figures.asked_of(scope),
        col(Request.status).in_(OPEN_REQUEST_STATES),
        or_(col(Request.deadline) < now, fired),
    )
    count = (await execute(session, select(func.count()).select_from(Request).where(*cond))).one()[
        0
    ]
    rows = (
        await execute(
            session,
            select(Request, Case)
            .join(Case, col(Case.id) == col(Request.case_id))
            .where(*cond)
            .order_by(col(Request.deadline), col(Request.id))
            .limit(LISTED),
        )
    ).all()
    return int(count), [(r, c) for r, c in rows]


@dataclass
class Digest:
    """A digest in the making: the message, and whether it has anything to say."""

    message: Message
    empty: bool


async def build(
    session: AsyncSession,
    *,
    rules: Rules,
    reader: Person,
    scope: figures.Scope,
    title: str,
    start: datetime,
    end: datetime,
    now: datetime,
    weekly: bool,
    compare: bool = False,
    db: Database | None = None,
) -> Digest:
    """The digest of `scope`: what is at risk now, and the figures of [start, end).

    With `db` on PostgreSQL the independent reads run at once on their own connections.
    """
    cal = calendar_of(reader, rules.calendar)
    tz = cal.tz
    q_start, q_end = figures.previous_quarter(now, cal.zone)
    jobs: dict[str, Callable[[AsyncSession], Awaitable[Any]]] = {
        "f": lambda s: figures.compute(
            s, scope=scope, start=start, end=end, now=now, default=rules.calendar, db=db
        ),
        "risk": lambda s: at_risk_now(s, scope=scope, now=now),
        "people": lambda s: figures.per_person(s, scope=scope, start=start, end=end, now=now),
    }
    if weekly or compare:
        jobs["prev"] = lambda s: figures.compute(
            s, scope=scope, start=q_start, end=q_end, now=now, default=rules.calendar, brief=True
        )
    chart: asyncio.Future[dict[str, Any]] | None = None
    points: list[figures.WeekPoint] = []
    if weekly:  # the chart is drawn in a thread while the other figures are read
        points = await figures.weekly_series(
            session, scope=scope, end=end, now=now, weeks=WEEKS, tz=cal.zone
        )
        year, week, _ = start.astimezone(cal.zone).date().isocalendar()
        chart = asyncio.ensure_future(
            asyncio.to_thread(
                charts.chart_extra,
                points,
                target=scope.target_on_time,
                title=sentence("digest_chart_title", scope=scope.label),
                filename=f"ownit-weekly-{year}-W{week:02d}.png",
            )
        )
    try:
        got = await figures.reads(session, db, jobs)
    except BaseException:
        if chart is not None:
            chart.cancel()
        raise
    f: figures.Figures = got["f"]
    count, risky = got["risk"]
    if not count and not f.active:
        if chart is not None:
            chart.cancel()
        line = compose("digest_all_clear", scope=scope.label, since=when_for(start, tz))
        return Digest(Message("digest", line), empty=True)

    if weekly:
        period = sentence("digest_period_week", day=format_when(start, tz).rsplit(" ", 1)[0])
    else:
        period = sentence("digest_period_since", when=when_for(start, tz))
    lines: list[tuple[Segment, ...]] = [
        compose("digest_header", title=title, scope=scope.label, period=period)
    ]
    if count:
        lines.append(compose("digest_at_risk_head", count=count))
        names = await _names(session, {r.assignee_id for r, _ in risky} - {None})
        for req, case in risky:
            state = sentence(
                "digest_state_overdue" if req.deadline < now else "digest_state_at_risk"
            )
            who = names.get(req.assignee_id) if req.assignee_id else None
            lines.append(
                compose(
                    "digest_request_line",
                    request_key=req.key,
                    state=state,
                    colleague=mention(who) if who else sentence("digest_unclaimed"),
                    question=req.question[:80],
                    case_key=case.key,
                    customer=case.customer,
                    deadline=when_for(req.deadline, tz),
                    command=Code(f"/case status {case.key}"),
                )
            )
        if count > len(risky):
            lines.append(compose("digest_more", count=count - len(risky)))
    lines.append(compose("digest_escalations", **f.escalations))
    lines.append(
        compose(
            "digest_promises",
            kept=f.promises_kept,
            renegotiated=f.promises_renegotiated,
            broken=f.promises_broken,
            rate=sentence(
                "digest_promise_rate",
                rate=_pct(f.promise_rate),
                renegotiated=_pct(f.renegotiated_rate),
                broken=_pct(f.broken_rate),
            )
            if f.promises_decided
            else "",
            then_kept=sentence(
                "digest_renegotiated_kept", kept=f.renegotiated_kept, of=f.renegotiated_cases
            )
            if f.renegotiated_cases
            else "",
        )
    )
    quarter = ""
    prev: figures.Figures | None = got.get("prev")
    if prev is not None:
        if prev.on_time_rate is not None:
            quarter = sentence("digest_vs_quarter", rate=_pct(prev.on_time_rate))
    rate = f.on_time_rate
    verdict = ""
    if rate is not None:
        verdict = sentence(
            "digest_below_target" if rate < scope.target_on_time else "digest_on_target"
        )
    if f.due:
        lines.append(
            compose(
                "digest_on_time",
                rate=_pct(rate),
                due=f.due,
                target=_pct(scope.target_on_time),
                vs_quarter=quarter,
                verdict=verdict,
            )
        )
    if f.ack_median is not None or f.answer_median is not None:
        lines.append(
            compose(
                "digest_response",
                ack_median=_dur(f.ack_median),
                ack_p90=_dur(f.ack_p90),
                target=format_duration(timedelta(minutes=scope.target_first_response_minutes)),
                answer_median=_dur(f.answer_median),
                answer_p90=_dur(f.answer_p90),
            )
        )
    if f.cases_resolved:
        lines.append(
            compose(
                "digest_handoffs",
                per_case=f"{f.handoffs_per_case or 0:.1f}",
                transfers=f.transfers,
                redirects=f.redirects,
                cases=f.cases_resolved,
            )
        )
    if f.csat_count:
        lines.append(
            compose(
                "digest_csat",
                average=f"{f.csat_average or 0:.1f}",
                count=f.csat_count,
                satisfied=_pct(f.csat_rate),
            )
        )
    if f.cases_opened:
        lines.append(
            compose(
                "digest_cases",
                count=f.cases_opened,
                categories=", ".join(f"{c} {n}" for c, n in f.categories) or "—",
                repeats=", ".join(f"{c} ({n})" for c, n in f.repeat_customers) or "none",
            )
        )
    people = [p for p in got["people"] if p.due >= 2 and p.rate < scope.target_on_time][:3]
    if people:
        names = await _names(session, {p.person_id for p in people})
        parts: list[tuple[Segment, ...] | Segment] = [compose("digest_attention")]
        for i, p in enumerate(people):
            who = names.get(p.person_id)
            parts.append((", " if i else "",))
            parts.append(mention(who) if who else sentence("digest_someone"))
            parts.append(sentence("digest_person_on_time", on_time=p.on_time, due=p.due))
        lines.append(join(*parts))
    extra: dict[str, Any] = {}
    if chart is not None:
        extra["chart"] = await chart
        extra["chart_series"] = charts.series(points)
        lines.append(compose("digest_chart"))
    return Digest(Message("digest", join(*lines, sep="\n"), extra=extra), empty=False)


async def _names(session: AsyncSession, ids: set[int | None]) -> dict[int | None, Person]:
    clean = {i for i in ids if i is not None}
    if not clean:
        return {}
    rows = (await execute(session, select(Person).where(col(Person.id).in_(clean)))).scalars()
    return {p.id: p for p in rows.all()}
