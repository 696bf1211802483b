"""Per person and per week: who is behind, the weekly series the chart draws, quarters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.figures.query import among, execute, ones
from bot.figures.scope import Scope, answered_by, asked_of, owned_by
from storage.states import OPEN_REQUEST_STATES
from storage.tables import Case, Request


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
                ones(col(Request.answered_at) <= col(Request.deadline)),
            )
            .where(
                answered_by(scope),
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
                col(Request.status).in_(OPEN_REQUEST_STATES),
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
                    bucket, func.count(), ones(col(Request.answered_at) <= col(Request.deadline))
                )
                .where(
                    answered_by(scope),
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
                    col(Request.status).in_(OPEN_REQUEST_STATES),
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
                select(bucket, func.count(), ones(col(Case.promise_kept).is_(True)))
                .where(
                    owned_by(scope),
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
