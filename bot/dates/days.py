"""Days and clock times in a calendar: the instants every deadline form is built from.

A named day before today is refused here, once for every form, so no reader can move a past day
to the next business day and pass it off as a future one (a Saturday that is over, a holiday
that is over: both are in the past, not "close of the next business day").
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from bot.business_time import Calendar, format_day
from bot.dates.refusal import refuse

_TIME_RE = re.compile(
    r"(?:at\s+)?(?:(?P<h12>\d{1,2})(?::(?P<m12>\d{2}))?\s*(?P<ampm>am|pm)"
    r"|(?P<h24>\d{1,2}):(?P<m24>\d{2})|(?P<noon>noon|midday)|(?P<bare>\d{1,2}))"
)


def instant(calendar: Calendar, day: date, at: time) -> datetime:
    """The UTC instant of a wall-clock time on a day of `calendar`."""
    return datetime.combine(day, at, tzinfo=calendar.zone).astimezone(UTC)


def local_date(calendar: Calendar, at: datetime) -> date:
    return at.astimezone(calendar.zone).date()


def business_day_from(calendar: Calendar, day: date) -> date:
    """`day` if it is a business day, else the next business day after it."""
    if calendar.is_business_day(day):
        return day
    return local_date(calendar, calendar.next_business_day(instant(calendar, day, time(12))))


def not_before_today(calendar: Calendar, day: date, now: datetime) -> date:
    """`day`, or a refusal naming it when it is already over in `calendar`."""
    today = local_date(calendar, now)
    if day < today:
        raise refuse("dates_day_passed", day=format_day(day, this_year=today.year))
    return day


def close_of(calendar: Calendar, day: date, now: datetime) -> datetime:
    """Close of business on `day`, or of the next business day if `day` is not one; a day
    already over is refused, never moved forward."""
    day = not_before_today(calendar, day, now)
    return instant(calendar, business_day_from(calendar, day), calendar.end)


def parse_time(text: str, *, bare_ok: bool) -> time | None:
    """ "3pm", "3:30pm", "15:00", "noon", "at 10"; None if `text` is not a time of day; a
    refusal if it is one that cannot be ("25:00", "13pm")."""
    match = _TIME_RE.fullmatch(text)
    if not match:
        return None
    g = match.groupdict()
    if g["noon"]:
        return time(12)
    if g["ampm"]:
        hour, minute = int(g["h12"]), int(g["m12"] or 0)
        if not 1 <= hour <= 12 or minute > 59:
            raise refuse("dates_bad_clock_12", words=text)
        return time(hour % 12 + (12 if g["ampm"] == "pm" else 0), minute)
    if g["bare"] and not (bare_ok or text.startswith("at")):
        return None
    hour, minute = int(g["h24"] or g["bare"]), int(g["m24"] or 0)
    if hour > 23 or minute > 59:
        raise refuse("dates_bad_clock_24", words=text)
    return time(hour, minute)
