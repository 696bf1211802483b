"""Business-time arithmetic: working hours, weekends and public holidays in a time zone.

Promises to customers are made in business time ("4 working hours"), so escalation timers
must skip evenings, weekends and holidays of the owner's calendar. Every public function
takes timezone-aware datetimes and returns aware UTC datetimes; local wall-clock reasoning
happens inside, with zoneinfo, so DST changes are handled by construction.

"Business time" is real elapsed time inside opening windows: a window is the span between
the UTC instants of the local opening and closing times of a business day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "MONTH_NAMES",
    "WEEKDAY_ALIASES",
    "Calendar",
    "format_day",
    "format_when",
    "parse_workdays",
]

# A safety net for day-by-day searches; real calendars find a business day within a week or two.
_MAX_SEARCH_DAYS = 3660
_ONE_DAY = timedelta(days=1)

_DAYS_KEPT = 4096  # local days whose windows a calendar keeps

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAY_ALIASES = {
    "mon": 0, "monday": 0,
    "tue": 1, "tues": 1, "tuesday": 1,
    "wed": 2, "weds": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3,
    "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5,
    "sun": 6, "sunday": 6,
}  # fmt: skip
_HOURS_RE = re.compile(
    r"^\s*(\d{1,2})(?::(\d{2}))?\s*(?:-|–|—|to)\s*(\d{1,2})(?::(\d{2}))?\s*$", re.IGNORECASE
)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError(
            f"Unknown time zone {name!r}; use an IANA name like 'Europe/London'."
        ) from None


@lru_cache(maxsize=256)
def _known_holidays(country: str, subdiv: str | None) -> None:
    """Raises if `holidays` has no such calendar (checked once: building one is costly)."""
    holidays.country_holidays(country, subdiv=subdiv)


@lru_cache(maxsize=512)
def _holiday_dates(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    """Holidays of one country/subdivision/year; cached because lookups happen per day."""
    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=year).keys())


def _utc(at: datetime) -> datetime:
    if at.tzinfo is UTC:
        return at
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"Expected a timezone-aware datetime, got naive {at.isoformat()}")
    return at.astimezone(UTC)


@dataclass(frozen=True)
class Calendar:
    """Working hours, time zone and public holidays of a person or team."""

    tz: str = "UTC"
    workdays: frozenset[int] = field(default=frozenset({0, 1, 2, 3, 4}))  # Monday=0
    start: time = time(9, 0)
    end: time = time(17, 0)
    country: str | None = None  # holidays country code, e.g. "US", "GB", "DE"
    subdiv: str | None = None  # holidays subdivision, e.g. "ENG", "CA"
    zone: ZoneInfo = field(init=False, repr=False, compare=False)
    # each local day asked about: its opening window, or None for a day that is not a business
    # day (a deadline, a ladder and a forecast all walk the same few days, many times over)
    _days: dict[date, tuple[datetime, datetime] | None] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", _zone(self.tz))
        try:
            days = frozenset(self.workdays)
        except TypeError:
            raise ValueError(
                f"Workdays must be a set of day numbers, got {self.workdays!r}."
            ) from None
        if not days:
            raise ValueError("A calendar needs at least one workday.")
        if not days <= set(range(7)):
            raise ValueError(f"Workdays must be 0 (Monday) to 6 (Sunday), got {sorted(days)}.")
        object.__setattr__(self, "workdays", days)
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("Working hours are local wall-clock times; drop the tzinfo.")
        if self.end <= self.start:
            raise ValueError(
                f"Working hours must end after they start ({self.start:%H:%M}-{self.end:%H:%M})."
            )
        if self.country is not None:
            country = self.country.strip().upper()
            try:
                _known_holidays(country, self.subdiv)
            except (NotImplementedError, KeyError, ValueError) as exc:
                raise ValueError(f"Unknown holiday calendar {self.country!r}: {exc}") from None
            object.__setattr__(self, "country", country)

    # -- days ---------------------------------------------------------------------------------

    def is_holiday(self, day: date) -> bool:
        if self.country is None:
            return False
        return day in _holiday_dates(self.country, self.subdiv, day.year)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.workdays and not self.is_holiday(day)

    def _local_date(self, at: datetime) -> date:
        return _utc(at).astimezone(self.zone).date()

    def _open(self, day: date) -> tuple[datetime, datetime] | None:
        """The opening window of a business day; None for any other day."""
        try:
            return self._days[day]
        except KeyError:
            pass
        window = self._window(day) if self.is_business_day(day) else None
        if len(self._days) >= _DAYS_KEPT:
            self._days.clear()
        self._days[day] = window
        return window

    def _hours(self, day: date) -> tuple[datetime, datetime]:
        """The window of a day found to be a business day (any day's, else)."""
        return self._open(day) or self._window(day)

    def _at(self, day: date, at_time: time) -> datetime:
        """The UTC instant of a local wall-clock time on a local day."""
        return datetime.combine(day, at_time, tzinfo=self.zone).astimezone(UTC)

    def _window(self, day: date) -> tuple[datetime, datetime]:
        """Opening and closing instants of a day (empty if a DST gap inverts them)."""
        opens, closes = self._at(day, self.start), self._at(day, self.end)
        return opens, max(opens, closes)

    def _next_business_date(self, day: date) -> date:
        """The first business day strictly after `day`."""
        for _ in range(_MAX_SEARCH_DAYS):
            day += _ONE_DAY
            if self._open(day) is not None:
                return day
        raise ValueError("No business day within ten years; check workdays and holidays.")

    # -- instants -----------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        window = self._open(self._local_date(at))
        return window is not None and window[0] <= _utc(at) < window[1]

    def _is_close(self, at: datetime) -> bool:
        """`at` is the closing instant of a business day."""
        window = self._open(self._local_date(at))
        return window is not None and window[1] == _utc(at)

    def next_open(self, at: datetime) -> datetime:
        """`at` itself (in UTC) if open, else the next opening moment."""
        at = _utc(at)
        day = self._local_date(at)
        window = self._open(day)
        if window is not None and at < window[1]:
            return max(at, window[0])
        for _ in range(_MAX_SEARCH_DAYS):
            day = self._next_business_date(day)
            opens, closes = self._hours(day)
            if opens < closes:
                return opens
        raise ValueError("No opening hours within ten years.")

    def add(self, start: datetime, delta: timedelta) -> datetime:
        """Add business time; a start outside hours counts from the next opening.

        A result that uses up a day exactly lands at that day's close, not the next opening; and
        adding nothing to such a close stays there, so adding in steps lands where adding at
        once does.
        """
        if delta < timedelta(0):
            raise ValueError("Cannot add negative business time.")
        if not delta and self._is_close(start):
            return _utc(start)
        current, remaining = self.next_open(start), delta
        while True:  # one iteration per business day
            _, closes = self._hours(self._local_date(current))
            available = closes - current
            if remaining <= available:
                return current + remaining
            remaining -= available
            current = self.next_open(closes)

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Business time from a to b; zero if b is not after a."""
        a, b = _utc(a), _utc(b)
        total = timedelta(0)
        if b <= a:
            return total
        day, last = self._local_date(a), self._local_date(b)
        while day <= last:
            if (window := self._open(day)) is not None:
                overlap = min(window[1], b) - max(window[0], a)
                if overlap > timedelta(0):
                    total += overlap
            day += _ONE_DAY
        return total

    def end_of_day(self, at: datetime) -> datetime:
        """Close of business on at's day, or of the next business day once that has passed."""
        day = self._local_date(at)
        window = self._open(day)
        if window is not None and _utc(at) < window[1]:
            return window[1]
        return self._hours(self._next_business_date(day))[1]

    def next_business_day(self, at: datetime, at_time: time | None = None) -> datetime:
        """The first business day after at's local date, at `at_time` (default: close)."""
        day = self._next_business_date(self._local_date(at))
        return self._at(day, self.end if at_time is None else at_time)

    @classmethod
    def parse_hours(cls, text: str) -> tuple[time, time]:
        """Parse working hours like "09:00-17:00", "9-17" or "8:30 to 16:30"."""
        match = _HOURS_RE.match(text or "")
        if not match:
            raise ValueError(
                f"I can't read {text!r} as working hours; write them like 09:00-17:00."
            )
        h1, m1, h2, m2 = (int(g) if g else 0 for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"{text.strip()!r} has an hour or minute out of range.")
        opens, closes = time(h1, m1), time(h2, m2)
        if closes <= opens:
            raise ValueError(f"Working hours must end after they start, got {text.strip()!r}.")
        return opens, closes


def parse_workdays(text: str) -> frozenset[int]:
    """Parse workdays like "mon-fri", "sun-thu" or "mon,tue,thu" (ranges may wrap the week)."""
    days: set[int] = set()
    cleaned = re.sub(r"\s*[-–]\s*", "-", (text or "").strip().lower())
    parts = [p for p in re.split(r"\s*,\s*|\s+", cleaned) if p]
    if not parts:
        raise ValueError("No workdays given; write them like mon-fri or mon,tue,thu.")
    for part in parts:
        first, sep, last = part.partition("-")
        if first not in WEEKDAY_ALIASES or (sep and last not in WEEKDAY_ALIASES):
            raise ValueError(f"I can't read {part!r} as days; write them like mon-fri or sun-thu.")
        a = WEEKDAY_ALIASES[first]
        b = WEEKDAY_ALIASES[last] if sep else a
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(days)


def format_when(at: datetime, tz: str, *, now: datetime | None = None) -> str:
    """Short human form such as "Tue 24 Nov 17:00", in `tz` (callers add the zone name).

    Given `now`, a time in another local year than now's says its year ("Tue 5 Jan 2027 17:00"),
    so a date a year away never passes for one a few weeks away.
    """
    local = _utc(at).astimezone(_zone(tz))
    this_year = None if now is None else _utc(now).astimezone(_zone(tz)).year
    return f"{format_day(local.date(), this_year=this_year)} {local:%H:%M}"


def format_day(day: date, *, this_year: int | None = None) -> str:
    """ "Sat 28 Nov", or "Sat 28 Nov 2025" when `this_year` is given and is another year."""
    weekday = _DAY_NAMES[day.weekday()].capitalize()
    shown = f"{weekday} {day.day} {MONTH_NAMES[day.month - 1]}"
    return shown if this_year in (None, day.year) else f"{shown} {day.year}"
