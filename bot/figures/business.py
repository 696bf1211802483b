"""Business durations, fast: a cumulative index per calendar, and the percentiles of them."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.business_time import Calendar
from bot.directory import calendar_of
from bot.figures.query import execute
from storage.tables import Person


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


async def calendars_of(
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
