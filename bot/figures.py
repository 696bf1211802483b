"""Figures per person, team and period, computed in the database.

"If it isn't measured, it doesn't matter": on-time rate of internal answers, time to acknowledge
and to answer (median and 90th percentile in business time), escalations by ladder step, customer
promises kept, handoffs per case, cases by category and repeat customers, and CSAT.

Counts, sums and groupings are SQL aggregates over indexed columns (answers by person and time,
cases by owner and time, ladder events by kind and time), so the cost follows the size of the
period, not of the history. Business durations cannot be summed in SQL (they depend on each
person's hours, time zone and holidays), so the newest `SAMPLE` (opened, answered) pairs of a scope
are fetched and measured with a per-calendar cumulative index: one bisection per instant instead
of a walk over the days in between.

Definitions (also in docs/managers.md):
- a request is *due* in a period when it was answered in it, or is still unanswered and its
  deadline passed in it; *on time* when it was answered by its deadline;
- time to acknowledge and to answer count from when the request was asked, in the business time of
  the person who acknowledged or answered it; a request answered without an acknowledgement was
  acknowledged by its answer;
- promises, handoffs and CSAT count cases resolved in the period; categories and repeat customers
  count cases opened in it; a person's cases are the ones they own.
"""

from __future__ import annotations

import asyncio
import math
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, and_, any_, case, false, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.business_time import Calendar
from bot.directory import calendar_of
from storage.db import Database
from storage.tables import Case, Event, Membership, Person, Request, Team

SAMPLE = 2000
OPEN_STATES = ("open", "acknowledged")
STEPS = ("nudge", "at_risk", "overdue", "promise_at_risk")
TOP = 5


# --- whose figures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """A set of people, and the teams whose unclaimed requests count against them."""

    label: str
    people: tuple[int, ...]
    teams: tuple[int, ...] = ()
    target_on_time: float = 0.9
    target_first_response_minutes: int = 60
    pg: bool = False  # PostgreSQL: match ids with one array parameter instead of a long IN list


def is_pg(session: AsyncSession) -> bool:
    bind = session.bind
    return bind is not None and bind.dialect.name == "postgresql"


def among(column: Any, ids: Sequence[int], *, pg: bool) -> ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL `column = ANY($1::int[])`, one parameter however many ids.

    Hundreds of expanded parameters cost more to render and prepare than the query costs to run.
    """
    if not ids:
        return false()
    if pg:
        return column == any_(literal(list(ids), type_=ARRAY(Integer)))  # type: ignore[no-any-return]
    return column.in_(ids)  # type: ignore[no-any-return]


async def reports_of(session: AsyncSession, manager: Person) -> list[int]:
    """Everyone below `manager` in the management chain, level by level (cycles are cut)."""
    seen: set[int] = {manager.id} if manager.id is not None else set()
    found: list[int] = []
    frontier: list[int] = [manager.id] if manager.id is not None else []
    while frontier:
        rows = (
            await execute(
                session, select(col(Person.id)).where(col(Person.manager_id).in_(frontier))
            )
        ).all()
        frontier = [r[0] for r in rows if r[0] not in seen]
        seen.update(frontier)
        found.extend(frontier)
    return found


async def managed_teams(session: AsyncSession, manager: Person) -> list[Team]:
    rows = await execute(
        session, select(Team).where(col(Team.manager_id) == manager.id).order_by(col(Team.key))
    )
    return list(rows.scalars().all())


async def manager_scope(session: AsyncSession, manager: Person) -> Scope:
    """A manager's people: everyone reporting to them, and the members of the teams they run.

    The targets are the strictest of their teams' (the defaults when they run no team).
    """
    people = set(await reports_of(session, manager))
    teams = await managed_teams(session, manager)
    team_ids = [t.id for t in teams if t.id is not None]
    if team_ids:
        rows = await execute(
            session, select(col(Membership.person_id)).where(col(Membership.team_id).in_(team_ids))
        )
        people.update(r[0] for r in rows.all())
    people.discard(manager.id)  # type: ignore[arg-type]
    on_time = max(
        (t.target_on_time for t in teams), default=Team.model_fields["target_on_time"].default
    )
    first = min(
        (t.target_first_response_minutes for t in teams),
        default=Team.model_fields["target_first_response_minutes"].default,
    )
    return Scope(
        label=f"{manager.name}'s people",
        people=tuple(sorted(people)),
        teams=tuple(team_ids),
        target_on_time=on_time,
        target_first_response_minutes=first,
        pg=is_pg(session),
    )


async def team_scope(session: AsyncSession, team: Team) -> Scope:
    rows = await execute(
        session, select(col(Membership.person_id)).where(col(Membership.team_id) == team.id)
    )
    assert team.id is not None
    return Scope(
        label=f"@{team.key}",
        people=tuple(sorted(r[0] for r in rows.all())),
        teams=(team.id,),
        target_on_time=team.target_on_time,
        target_first_response_minutes=team.target_first_response_minutes,
        pg=is_pg(session),
    )


def person_scope(person: Person) -> Scope:
    assert person.id is not None
    return Scope(label=f"@{person.handle}", people=(person.id,))


# --- business time, fast ---------------------------------------------------------------------


class BusinessIndex:
    """Cumulative business seconds of one calendar over a range of days.

    `between(a, b)` equals `Calendar.between(a, b)` for instants inside the range, at the cost of
    two bisections; building it walks the range once.
    """

    def __init__(self, cal: Calendar, first: date, last: date) -> None:
        self.cal = cal
        self.first, self.last = first, last
        self.opens: list[float] = []
        self.lengths: list[float] = []
        self.before: list[float] = []
        total = 0.0
        day = first
        while day <= last:
            if cal.is_business_day(day):
                opens, closes = cal._window(day)
                length = (closes - opens).total_seconds()
                if length > 0:
                    self.opens.append(opens.timestamp())
                    self.lengths.append(length)
                    self.before.append(total)
                    total += length
            day += timedelta(days=1)

    def covers(self, at: datetime) -> bool:
        local = at.astimezone(self.cal.zone).date()
        return self.first <= local <= self.last

    def elapsed(self, t: float) -> float:
        i = bisect_right(self.opens, t) - 1
        if i < 0:
            return 0.0
        return self.before[i] + min(t - self.opens[i], self.lengths[i])

    def between(self, a: datetime, b: datetime) -> timedelta:
        if b <= a:
            return timedelta(0)
        return timedelta(seconds=self.elapsed(b.timestamp()) - self.elapsed(a.timestamp()))


def business_durations(pairs: Iterable[tuple[Calendar, datetime, datetime]]) -> list[timedelta]:
    """Business time of many (calendar, start, end) pairs, one index per distinct calendar."""
    rows = list(pairs)
    spans: dict[Calendar, tuple[date, date]] = {}
    for cal, a, b in rows:
        lo = a.astimezone(cal.zone).date()
        hi = b.astimezone(cal.zone).date()
        old = spans.get(cal)
        spans[cal] = (min(lo, old[0]), max(hi, old[1])) if old else (lo, hi)
    index = {cal: BusinessIndex(cal, lo, hi) for cal, (lo, hi) in spans.items()}
    return [index[cal].between(a, b) for cal, a, b in rows]


def median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def p90(values: Sequence[timedelta]) -> timedelta | None:
    """The nearest-rank 90th percentile: the smallest value that at least 90 % do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


# --- the figures -----------------------------------------------------------------------------


@dataclass
class Figures:
    scope: str
    start: datetime
    end: datetime
    due: int = 0
    answered: int = 0
    on_time: int = 0
    missed_open: int = 0
    ack_median: timedelta | None = None
    ack_p90: timedelta | None = None
    answer_median: timedelta | None = None
    answer_p90: timedelta | None = None
    escalations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))
    cases_resolved: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    handoffs: int = 0
    redirects: int = 0
    cases_opened: int = 0
    categories: list[tuple[str, int]] = field(default_factory=list)
    repeat_customers: list[tuple[str, int]] = field(default_factory=list)
    repeat_customer_count: int = 0
    csat_count: int = 0
    csat_sum: int = 0
    csat_satisfied: int = 0
    target_on_time: float = 0.9
    target_first_response_minutes: int = 60

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.due if self.due else None

    @property
    def promise_rate(self) -> float | None:
        decided = self.promises_kept + self.promises_broken
        return self.promises_kept / decided if decided else None

    @property
    def transfers(self) -> int:
        return max(0, self.handoffs - self.redirects)

    @property
    def handoffs_per_case(self) -> float | None:
        return self.handoffs / self.cases_resolved if self.cases_resolved else None

    @property
    def csat_average(self) -> float | None:
        return self.csat_sum / self.csat_count if self.csat_count else None

    @property
    def csat_rate(self) -> float | None:
        return self.csat_satisfied / self.csat_count if self.csat_count else None

    @property
    def escalation_total(self) -> int:
        return sum(self.escalations.values())

    @property
    def active(self) -> bool:
        return bool(self.due or self.escalation_total or self.cases_resolved or self.cases_opened)

    def as_row(self) -> dict[str, Any]:
        """Flat values for an export (minutes for durations, shares for rates)."""

        def minutes(d: timedelta | None) -> float | None:
            return round(d.total_seconds() / 60, 1) if d is not None else None

        def share(x: float | None) -> float | None:
            return round(x, 4) if x is not None else None

        return {
            "scope": self.scope,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "requests_due": self.due,
            "answered": self.answered,
            "on_time": self.on_time,
            "on_time_rate": share(self.on_time_rate),
            "target_on_time": self.target_on_time,
            "ack_median_minutes": minutes(self.ack_median),
            "ack_p90_minutes": minutes(self.ack_p90),
            "target_first_response_minutes": self.target_first_response_minutes,
            "answer_median_minutes": minutes(self.answer_median),
            "answer_p90_minutes": minutes(self.answer_p90),
            **{f"escalations_{k}": v for k, v in self.escalations.items()},
            "cases_resolved": self.cases_resolved,
            "promises_kept": self.promises_kept,
            "promises_broken": self.promises_broken,
            "promise_kept_rate": share(self.promise_rate),
            "handoffs": self.handoffs,
            "transfers": self.transfers,
            "redirects": self.redirects,
            "handoffs_per_case": share(self.handoffs_per_case),
            "cases_opened": self.cases_opened,
            "top_categories": "; ".join(f"{c} {n}" for c, n in self.categories),
            "repeat_customers": self.repeat_customer_count,
            "top_repeat_customers": "; ".join(f"{c} {n}" for c, n in self.repeat_customers),
            "csat_count": self.csat_count,
            "csat_average": share(self.csat_average),
            "csat_satisfied_rate": share(self.csat_rate),
        }


async def execute(session: AsyncSession, stmt: Any, params: dict[str, Any] | None = None) -> Any:
    """Run a core select (sqlmodel's overloads do not type multi-column aggregates)."""
    return await session.exec(stmt, params=params)


def asked_of(scope: Scope) -> ColumnElement[bool]:
    """Requests that count against the scope: asked of its people, or unclaimed by its teams."""
    people = among(col(Request.assignee_id), scope.people, pg=scope.pg)
    if not scope.teams:
        return people
    return or_(
        people,
        and_(
            col(Request.assignee_id).is_(None),
            among(col(Request.team_id), scope.teams, pg=scope.pg),
        ),
    )


def _answered_by(scope: Scope) -> ColumnElement[bool]:
    return among(col(Request.answered_by_id), scope.people, pg=scope.pg)


def _owned_by(scope: Scope) -> ColumnElement[bool]:
    return among(col(Case.owner_id), scope.people, pg=scope.pg)


def _ones(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


_CAL_FIELDS = ("tz", "hours", "workdays", "country", "subdiv")


@lru_cache(maxsize=256)
def _calendar(default: Calendar, fields: tuple[str | None, ...]) -> Calendar:
    """A calendar per distinct set of fields (making one loads its holidays: not per row)."""
    tz, hours, workdays, country, subdiv = fields
    who = Person(
        handle="x", name="x", tz=tz, hours=hours, workdays=workdays, country=country, subdiv=subdiv
    )
    return calendar_of(who, default)


def calendar_for(who: Person, default: Calendar) -> Calendar:
    """`calendar_of(who)`, cached by the person's calendar fields."""
    return _calendar(default, tuple(getattr(who, f) for f in _CAL_FIELDS))


async def _calendars(
    session: AsyncSession, ids: set[int], default: Calendar
) -> dict[int, Calendar]:
    if not ids:
        return {}
    rows = (
        await execute(
            session,
            select(col(Person.id), *(getattr(Person, f) for f in _CAL_FIELDS)).where(
                col(Person.id).in_(ids)
            ),
        )
    ).all()
    return {r[0]: _calendar(default, tuple(r[1:])) for r in rows}


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


async def reads(
    session: AsyncSession,
    db: Database | None,
    jobs: dict[str, Callable[[AsyncSession], Awaitable[Any]]],
) -> dict[str, Any]:
    """Run read jobs: in the given session one after another, or concurrently on PostgreSQL.

    SQLite gets no concurrency: its sessions take the file's write lock when they begin.
    """
    if db is None or not db.postgres:
        return {name: await job(session) for name, job in jobs.items()}

    async def one(job: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with db.reader() as s:
            return await job(s)

    values = await asyncio.gather(*(one(job) for job in jobs.values()))
    return dict(zip(jobs, values, strict=True))


async def _on_time(
    s: AsyncSession, f: Figures, *, scope: Scope, start: datetime, end: datetime, now: datetime
) -> None:
    answered_in = and_(
        _answered_by(scope), col(Request.answered_at) >= start, col(Request.answered_at) < end
    )
    row = (
        await execute(
            s,
            select(
                func.count(),
                _ones(col(Request.answered_at) <= col(Request.deadline)),
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
                        col(Request.status).in_(OPEN_STATES),
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
                _owned_by(scope),
            ),
        )
    ).one()
    for kind, n in steps:
        f.escalations[kind.removeprefix("step:")] = int(n)
    f.escalations["promise_at_risk"] = int(promise_steps[0])


async def _resolved(
    s: AsyncSession, f: Figures, *, scope: Scope, start: datetime, end: datetime, now: datetime
) -> None:
    resolved_in = and_(
        _owned_by(scope), col(Case.resolved_at) >= start, col(Case.resolved_at) < end
    )
    row = (
        await execute(
            s,
            select(
                func.count(),
                _ones(col(Case.promise_kept).is_(True)),
                _ones(col(Case.promise_kept).is_(False)),
                func.coalesce(func.sum(col(Case.handoffs)), 0),
                func.count(col(Case.csat)),
                func.coalesce(func.sum(col(Case.csat)), 0),
                _ones(col(Case.csat) >= 4),
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
    ) = (int(v) for v in row)
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
    opened_in = and_(_owned_by(scope), col(Case.opened_at) >= start, col(Case.opened_at) < end)
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
                _answered_by(scope),
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
    cals = await _calendars(session, {r[0] for r in answers} | {r[0] for r in acks}, default)
    both = business_durations(
        [(cals.get(pid, default), a, b) for pid, a, b in answers]
        + [(cals.get(pid, default), a, b) for pid, a, b in acks]
    )
    answer_times, ack_times = both[: len(answers)], both[len(answers) :]
    f.answer_median, f.answer_p90 = median(answer_times), p90(answer_times)
    f.ack_median, f.ack_p90 = median(ack_times), p90(ack_times)


# --- per person and per week -----------------------------------------------------------------


@dataclass(frozen=True)
class PersonLine:
    person_id: int
    due: int
    on_time: int

    @property
    def rate(self) -> float:
        return self.on_time / self.due if self.due else 1.0


async def per_person(
    session: AsyncSession, *, scope: Scope, start: datetime, end: datetime, now: datetime
) -> list[PersonLine]:
    """On time / due per person of the scope (grouped in SQL), worst first."""
    if not scope.people:
        return []
    answered = (
        await execute(
            session,
            select(
                col(Request.answered_by_id),
                func.count(),
                _ones(col(Request.answered_at) <= col(Request.deadline)),
            )
            .where(
                _answered_by(scope),
                col(Request.answered_at) >= start,
                col(Request.answered_at) < end,
            )
            .group_by(col(Request.answered_by_id)),
        )
    ).all()
    missed = (
        await execute(
            session,
            select(col(Request.assignee_id), func.count())
            .where(
                among(col(Request.assignee_id), scope.people, pg=scope.pg),
                col(Request.status).in_(OPEN_STATES),
                col(Request.deadline) >= start,
                col(Request.deadline) < min(end, now),
            )
            .group_by(col(Request.assignee_id)),
        )
    ).all()
    due: dict[int, list[int]] = {}
    for pid, n, ok in answered:
        due[pid] = [int(n), int(ok)]
    for pid, n in missed:
        due.setdefault(pid, [0, 0])[0] += int(n)
    lines = [PersonLine(pid, d, ok) for pid, (d, ok) in due.items()]
    return sorted(lines, key=lambda p: (p.rate, -p.due, p.person_id))


@dataclass(frozen=True)
class WeekPoint:
    start: datetime
    due: int
    on_time: int
    promises_decided: int
    promises_kept: int

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.due if self.due else None

    @property
    def promise_rate(self) -> float | None:
        return self.promises_kept / self.promises_decided if self.promises_decided else None


def week_starts(end: datetime, weeks: int, tz: Any) -> list[datetime]:
    """The local Monday-midnight starts of the `weeks` full weeks before `end`'s week."""
    local = end.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).date()
    starts = []
    for i in range(weeks, 0, -1):
        day = monday - timedelta(weeks=i)
        starts.append(datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC))
    return starts


def _bucket(column: Any, bounds: list[datetime]) -> Any:
    """The index of the period a timestamp falls in, as a portable SQL CASE expression."""
    return case(*[(column < b, i) for i, b in enumerate(bounds[1:])], else_=len(bounds) - 1)


async def weekly_series(
    session: AsyncSession, *, scope: Scope, end: datetime, now: datetime, weeks: int, tz: Any
) -> list[WeekPoint]:
    """On-time rate and kept promises for each of the `weeks` full weeks before `end`."""
    starts = week_starts(end, weeks, tz)
    bounds = [*starts, starts[-1] + timedelta(weeks=1)]
    first, last = bounds[0], bounds[-1]
    due = [0] * weeks
    ok = [0] * weeks
    decided = [0] * weeks
    kept = [0] * weeks
    if scope.people or scope.teams:
        bucket = _bucket(col(Request.answered_at), bounds)
        for i, n, good in (
            await execute(
                session,
                select(
                    bucket, func.count(), _ones(col(Request.answered_at) <= col(Request.deadline))
                )
                .where(
                    _answered_by(scope),
                    col(Request.answered_at) >= first,
                    col(Request.answered_at) < last,
                )
                .group_by(bucket),
            )
        ).all():
            due[i] += int(n)
            ok[i] += int(good)
        bucket = _bucket(col(Request.deadline), bounds)
        for i, n in (
            await execute(
                session,
                select(bucket, func.count())
                .where(
                    asked_of(scope),
                    col(Request.status).in_(OPEN_STATES),
                    col(Request.deadline) >= first,
                    col(Request.deadline) < min(last, now),
                )
                .group_by(bucket),
            )
        ).all():
            due[i] += int(n)
        bucket = _bucket(col(Case.resolved_at), bounds)
        for i, n, good in (
            await execute(
                session,
                select(bucket, func.count(), _ones(col(Case.promise_kept).is_(True)))
                .where(
                    _owned_by(scope),
                    col(Case.resolved_at) >= first,
                    col(Case.resolved_at) < last,
                    col(Case.promise_kept).is_not(None),
                )
                .group_by(bucket),
            )
        ).all():
            decided[i] += int(n)
            kept[i] += int(good)
    return [WeekPoint(starts[i], due[i], ok[i], decided[i], kept[i]) for i in range(weeks)]


def quarter_start(at: datetime, tz: Any) -> datetime:
    local = at.astimezone(tz)
    month = 3 * ((local.month - 1) // 3) + 1
    return datetime(local.year, month, 1, tzinfo=tz).astimezone(UTC)


def previous_quarter(at: datetime, tz: Any) -> tuple[datetime, datetime]:
    end = quarter_start(at, tz)
    start = quarter_start(end - timedelta(days=1), tz)
    return start, end


# --- everyone at once (exports) ----------------------------------------------------------------

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
                _ones(col(Request.answered_at) <= col(Request.deadline)),
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
                    col(Request.status).in_(OPEN_STATES),
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
    cals = await _calendars(session, {r[0] for r in answers} | {r[0] for r in acks}, default)
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
            f.escalations["promise_at_risk"] = int(n)

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
                _ones(col(Case.promise_kept).is_(True)),
                _ones(col(Case.promise_kept).is_(False)),
                func.coalesce(func.sum(col(Case.handoffs)), 0),
                func.count(col(Case.csat)),
                func.coalesce(func.sum(col(Case.csat)), 0),
                _ones(col(Case.csat) >= 4),
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
            ) = (int(v) for v in values)
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
