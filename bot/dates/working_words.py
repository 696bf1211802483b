"""The working-time forms of a deadline: durations in business time ("4h", "in 2 business
days"), eod and eow, today / tomorrow / next business day, weekdays ("fri 3pm") and clock times
("15:00"). Each reader returns None for words that are not its form."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from bot.business_time import WEEKDAY_ALIASES, Calendar, format_day
from bot.dates.days import business_day_from, close_of, instant, local_date, parse_time
from bot.dates.refusal import refuse

MAX_AHEAD = timedelta(days=365)

UNIT = r"(?:days?|d|hours?|hrs?|h|minutes?|mins?|m)"
_PIECE = rf"(\d+(?:\.\d+)?)\s*(?:(?:business|working)\s+)?({UNIT})(?![a-z])"
_PIECE_RE = re.compile(_PIECE)
DURATION = rf"(?:{_PIECE})(?:\s*(?:,|and)?\s*(?:{_PIECE}))*"
_DURATION_RE = re.compile(rf"(?:in\s+)?{DURATION}")
_DAY_WORD_RE = re.compile(
    r"(?P<day>yesterday|today|tomorrow|tmrw|tmr|next (?:business|working) day|nbd)"
    r"(?:\s+(?P<time>.+))?"
)
_WEEKDAY_RE = re.compile(r"(?:(?:next|this|on)\s+)?(?P<day>[a-z]+)(?:\s+(?P<time>.+))?")
EOD = {"eod", "cob", "eob", "end of day", "end of the day", "end of today", "close of business"}
EOW = {"eow", "end of week", "end of the week", "end of this week"}


def read_duration(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """Business durations: "4h", "1h30m", "90 min", "in 2 business days"."""
    if not _DURATION_RE.fullmatch(text):
        return None
    day_length = datetime.combine(date.min, calendar.end) - datetime.combine(
        date.min, calendar.start
    )
    days, rest = 0.0, timedelta(0)
    for number, unit in _PIECE_RE.findall(text):
        value = float(number)
        if value > 366 * 24 * 60:
            raise refuse("dates_too_far")
        if unit.startswith("d"):
            days += value
        elif unit.startswith("h"):
            rest += timedelta(hours=value)
        else:
            rest += timedelta(minutes=value)
    whole_days = int(days)
    rest += (days - whole_days) * day_length
    if whole_days == 0 and rest <= timedelta(0):
        raise refuse("dates_no_time_at_all", words=text)
    if whole_days > 366 or rest > MAX_AHEAD:
        raise refuse("dates_too_far")
    at = now
    if whole_days:
        # "2d" keeps the local time of day, clamped into working hours (20:00 counts as close).
        local = now.astimezone(calendar.zone).time().replace(tzinfo=None)
        same_time = min(max(local, calendar.start), calendar.end)
        for _ in range(whole_days):
            at = calendar.next_business_day(at, same_time)
    return calendar.add(at, rest) if rest > timedelta(0) else at


def read_business_words(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """eod / end of day, eow / end of week."""
    if text in EOD:
        return calendar.end_of_day(now)
    if text in EOW:
        return _end_of_week(now, calendar)
    return None


def _end_of_week(now: datetime, calendar: Calendar) -> datetime:
    """Close of the last business day of this working week (the next one once it is over).

    A working week is a run of consecutive workdays, so a Sunday-Thursday team's week ends on
    Thursday; a seven-day calendar's week ends on Sunday.
    """
    day = local_date(calendar, now)
    for _ in range(6):  # holidays can empty a whole week; look a few weeks ahead
        while day.weekday() not in calendar.workdays:
            day += timedelta(days=1)
        run: list[date] = []
        while day.weekday() in calendar.workdays:
            run.append(day)
            day += timedelta(days=1)
            if len(calendar.workdays) == 7 and day.weekday() == 0:
                break  # a seven-day week ends on Sunday
        closes = [instant(calendar, d, calendar.end) for d in run if calendar.is_business_day(d)]
        closes = [c for c in closes if c > now]
        if closes:
            return closes[-1]
    return calendar.end_of_day(now)


def read_day_word(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """today, tomorrow, next business day / nbd; each with an optional time. Yesterday is
    read only to be refused by name."""
    match = _DAY_WORD_RE.fullmatch(text)
    if not match:
        return None
    word, time_text = match["day"], match["time"]
    at_time = parse_time(time_text, bare_ok=True) if time_text else None
    if time_text and at_time is None:
        return None
    today = local_date(calendar, now)
    if word == "yesterday":
        raise refuse("dates_yesterday", day=format_day(today - timedelta(days=1)))
    if word == "today":
        if at_time is None:
            return calendar.end_of_day(now)
        return instant(calendar, today, at_time)
    if word.startswith("t"):  # tomorrow: the next calendar day, moved to a business day
        day = business_day_from(calendar, today + timedelta(days=1))
        return instant(calendar, day, at_time or calendar.end)
    return calendar.next_business_day(now, at_time)


def read_weekday(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """fri, friday, fri 3pm, next tue: the next such day whose time is still ahead."""
    match = _WEEKDAY_RE.fullmatch(text)
    if not match or match["day"] not in WEEKDAY_ALIASES:
        return None
    at_time = parse_time(match["time"], bare_ok=True) if match["time"] else None
    if match["time"] and at_time is None:
        return None
    today = local_date(calendar, now)
    day = today + timedelta(days=(WEEKDAY_ALIASES[match["day"]] - today.weekday()) % 7)
    for _ in range(2):
        if at_time is None:
            result = close_of(calendar, day, now)
        else:
            result = instant(calendar, day, at_time)
        if result > now:
            return result
        day += timedelta(days=7)
    return None  # pragma: no cover - a week later is always ahead


def read_clock_time(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """15:00, 3pm, 3:30pm: today if still ahead, else the next business day."""
    at_time = parse_time(text, bare_ok=False)
    if at_time is None:
        return None
    today_at = instant(calendar, local_date(calendar, now), at_time)
    return today_at if today_at > now else calendar.next_business_day(now, at_time)
