"""When digests are due: the periods, their keys, and who manages anyone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import or_, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.business_time import Calendar
from bot.digests.prefs import Prefs
from bot.figures import execute
from storage.tables import DigestRun, Person, Team


@dataclass(frozen=True)
class Due:
    kind: str  # "daily" or "weekly"
    key: str
    start: datetime  # the start of the period its figures cover


def weekly_day(cal: Calendar, day: date, weekday: int) -> date | None:
    """The day of `day`'s week the weekly digest goes out: the first business day from `weekday`."""
    monday = day - timedelta(days=day.weekday())
    for i in range(weekday, 7):
        candidate = monday + timedelta(days=i)
        if cal.is_business_day(candidate):
            return candidate
    return None


def local_midnight(day: date, cal: Calendar) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=cal.zone).astimezone(UTC)


def due_runs(cal: Calendar, prefs: Prefs, now: datetime, manager_id: int) -> list[Due]:
    """The digests due for a manager at `now`: today's daily (and weekly, on its day)."""
    if not prefs.enabled:
        return []
    today = now.astimezone(cal.zone).date()
    if not cal.is_business_day(today):
        return []
    if now < datetime.combine(today, prefs.at, tzinfo=cal.zone).astimezone(UTC):
        return []
    runs: list[Due] = []
    if weekly_day(cal, today, prefs.weekly) == today:
        year, week, _ = today.isocalendar()
        monday = today - timedelta(days=today.weekday())
        runs.append(
            Due(
                "weekly",
                f"weekly:{manager_id}:{year}-W{week:02d}",
                local_midnight(monday - timedelta(weeks=1), cal),
            )
        )
    runs.append(Due("daily", f"daily:{manager_id}:{today.isoformat()}", now - timedelta(days=1)))
    return runs


async def managers(session: AsyncSession) -> list[Person]:
    """Everyone who manages a person or a team."""
    ids = select(col(Person.manager_id)).where(col(Person.manager_id).is_not(None))
    team_ids = select(col(Team.manager_id)).where(col(Team.manager_id).is_not(None))
    rows = await execute(
        session,
        select(Person)
        .where(or_(col(Person.id).in_(ids), col(Person.id).in_(team_ids)))
        .order_by(col(Person.id)),
    )
    return list(rows.scalars().all())


async def last_sent(session: AsyncSession, manager_id: int) -> datetime | None:
    row = await execute(
        session,
        select(col(DigestRun.sent_at))
        .where(col(DigestRun.manager_id) == manager_id)
        .order_by(col(DigestRun.sent_at).desc())
        .limit(1),
    )
    value = row.first()
    return value[0] if value else None
