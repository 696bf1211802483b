"""Deadline words: turn what people type after "by" into an aware UTC instant.

The business forms (durations in working time, eod, tomorrow, next business day, weekdays,
clock times, ISO dates) are read with small regexes, because they depend on the calendar
and are cheap. Other absolute dates ("24 Nov 15:00", "Nov 24") fall through to dateparser,
which is slower and knows nothing about business days.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone

import dateparser

from bot.business_time import WEEKDAY_ALIASES, Calendar, format_when

__all__ = ["DeadlineError", "looks_like_deadline", "parse_deadline"]


class DeadlineError(ValueError):
    """A deadline or promise time that cannot be used; str(e) is a short, specific message for
    the user."""


_MAX_AHEAD = timedelta(days=365)
_HINT = "Try 4h, eod, tomorrow 17:00, next business day, fri 3pm or 2026-11-24 15:00."

_UNIT = r"(?:days?|d|hours?|hrs?|h|minutes?|mins?|m)"
_PIECE = rf"(\d+(?:\.\d+)?)\s*(?:(?:business|working)\s+)?({_UNIT})(?![a-z])"
_PIECE_RE = re.compile(_PIECE)
_DURATION_RE = re.compile(rf"(?:in\s+)?(?:{_PIECE})(?:\s*(?:,|and)?\s*(?:{_PIECE}))*")
_TIME_RE = re.compile(
    r"(?:at\s+)?(?:(?P<h12>\d{1,2})(?::(?P<m12>\d{2}))?\s*(?P<ampm>am|pm)"
    r"|(?P<h24>\d{1,2}):(?P<m24>\d{2})|(?P<noon>noon|midday)|(?P<bare>\d{1,2}))"
)
_DAY_WORD_RE = re.compile(
    r"(?P<day>today|tomorrow|tmrw|tmr|next (?:business|working) day|nbd)(?:\s+(?P<time>.+))?"
)
_WEEKDAY_RE = re.compile(r"(?:(?:next|this|on)\s+)?(?P<day>[a-z]+)(?:\s+(?P<time>.+))?")
_ISO_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[t ](?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(?P<off>z|[+-]\d{2}:?\d{2})?)?"
)
_HAS_TIME_RE = re.compile(r"\d:\d\d|\d\s*(?:am|pm)\b|\bnoon\b|\bmidday\b")
_HAS_YEAR_RE = re.compile(r"\b\d{4}\b")
_EOD = {"eod", "cob", "eob", "end of day", "end of the day", "end of today", "close of business"}
_EOW = {"eow", "end of week", "end of the week", "end of this week"}

_MONTHS = """jan january feb february mar march apr april may jun june jul july aug august
    sep sept september oct october nov november dec december""".split()
# looks_like_deadline vocabulary: filler words may appear but say nothing about time alone.
_FILLER = set("in at on the of and this next end close business working".split())
_TIME_WORDS = """yesterday today tomorrow tmrw tmr eod eow cob eob nbd noon midday day days
    week weeks h hr hrs hour hours m min mins minute minutes d am pm""".split()
_STRONG = {*_TIME_WORDS, *_MONTHS, *WEEKDAY_ALIASES}
_NUM_TOKEN_RE = re.compile(
    rf"(?:\d+(?:\.\d+)?{_UNIT})+|\d[\d:./+-]*(?:t[\d:.+-]+)?z?(?:am|pm|st|nd|rd|th)?"
)


def looks_like_deadline(text: str) -> bool:
    """Cheap check that every word could belong to a deadline and at least one names a time.

    The command grammar uses it to decide whether the words after the last " by " are a
    time ("by 4h", "by fri 3pm") or part of the request ("ask the team by finance").
    """
    tokens = [t for t in re.split(r"[\s,]+", text.strip().lower()) if t]
    if not tokens:
        return False
    strong = False
    for token in tokens:
        if token in _STRONG or _NUM_TOKEN_RE.fullmatch(token):
            strong = True
        elif token not in _FILLER:
            return False
    return strong


def parse_deadline(text: str, *, now: datetime, calendar: Calendar) -> datetime:
    """Read a deadline in `calendar` relative to `now`; returns an aware UTC instant after now.

    Raises DeadlineError with a message fit for the user for anything unusable.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("parse_deadline needs a timezone-aware `now`.")
    now = now.astimezone(UTC)
    cleaned = " ".join((text or "").lower().split())
    if not cleaned:
        raise DeadlineError("Give a time for the deadline. " + _HINT)
    if not looks_like_deadline(cleaned):
        raise _unreadable(text)
    result: datetime | None = None
    for reader in _READERS:
        result = reader(cleaned, now, calendar)
        if result is not None:
            break
    if result is None:
        raise _unreadable(text)
    if result <= now:
        when = f"{format_when(result, calendar.tz)} {calendar.tz}"
        raise DeadlineError(f"That time ({when}) has already passed.")
    if result - now > _MAX_AHEAD:
        raise DeadlineError("That is more than a year away; pick a time within 365 days.")
    return result


def _unreadable(text: str) -> DeadlineError:
    shown = " ".join(text.split())
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    return DeadlineError(f"I can't read '{shown}' as a time. {_HINT}")


def _instant(calendar: Calendar, day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=calendar.zone).astimezone(UTC)


def _local_date(calendar: Calendar, at: datetime) -> date:
    return at.astimezone(calendar.zone).date()


def _business_day_from(calendar: Calendar, day: date) -> date:
    """`day` if it is a business day, else the next business day after it."""
    if calendar.is_business_day(day):
        return day
    return _local_date(calendar, calendar.next_business_day(_instant(calendar, day, time(12))))


def _close_of(calendar: Calendar, day: date) -> datetime:
    """Close of business on `day`, or of the next business day if `day` is not one."""
    return _instant(calendar, _business_day_from(calendar, day), calendar.end)


def _parse_time(text: str, *, bare_ok: bool) -> time | None:
    """ "3pm", "3:30pm", "15:00", "noon", "at 10"; None if `text` is not a time of day."""
    match = _TIME_RE.fullmatch(text)
    if not match:
        return None
    g = match.groupdict()
    if g["noon"]:
        return time(12)
    if g["ampm"]:
        hour, minute = int(g["h12"]), int(g["m12"] or 0)
        if not 1 <= hour <= 12 or minute > 59:
            raise DeadlineError(f"'{text}' is not a time of day.")
        return time(hour % 12 + (12 if g["ampm"] == "pm" else 0), minute)
    if g["bare"] and not (bare_ok or text.startswith("at")):
        return None
    hour, minute = int(g["h24"] or g["bare"]), int(g["m24"] or 0)
    if hour > 23 or minute > 59:
        raise DeadlineError(f"'{text}' is not a time of day.")
    return time(hour, minute)


def _read_duration(text: str, now: datetime, calendar: Calendar) -> datetime | None:
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
            raise DeadlineError("That is more than a year away; pick a time within 365 days.")
        if unit.startswith("d"):
            days += value
        elif unit.startswith("h"):
            rest += timedelta(hours=value)
        else:
            rest += timedelta(minutes=value)
    whole_days = int(days)
    rest += (days - whole_days) * day_length
    if whole_days == 0 and rest <= timedelta(0):
        raise DeadlineError(f"'{text}' is no time at all; give a deadline like 4h or 2d.")
    if whole_days > 366 or rest > _MAX_AHEAD:
        raise DeadlineError("That is more than a year away; pick a time within 365 days.")
    at = now
    if whole_days:
        # "2d" keeps the local time of day, clamped into working hours (20:00 counts as close).
        local = now.astimezone(calendar.zone).time().replace(tzinfo=None)
        same_time = min(max(local, calendar.start), calendar.end)
        for _ in range(whole_days):
            at = calendar.next_business_day(at, same_time)
    return calendar.add(at, rest) if rest > timedelta(0) else at


def _read_business_words(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """eod / end of day, eow / end of week."""
    if text in _EOD:
        return calendar.end_of_day(now)
    if text in _EOW:
        return _end_of_week(now, calendar)
    return None


def _end_of_week(now: datetime, calendar: Calendar) -> datetime:
    """Close of the last business day of this working week (the next one once it is over).

    A working week is a run of consecutive workdays, so a Sunday-Thursday team's week ends on
    Thursday; a seven-day calendar's week ends on Sunday.
    """
    day = _local_date(calendar, now)
    for _ in range(6):  # holidays can empty a whole week; look a few weeks ahead
        while day.weekday() not in calendar.workdays:
            day += timedelta(days=1)
        run: list[date] = []
        while day.weekday() in calendar.workdays:
            run.append(day)
            day += timedelta(days=1)
            if len(calendar.workdays) == 7 and day.weekday() == 0:
                break  # a seven-day week ends on Sunday
        closes = [_instant(calendar, d, calendar.end) for d in run if calendar.is_business_day(d)]
        closes = [c for c in closes if c > now]
        if closes:
            return closes[-1]
    return calendar.end_of_day(now)


def _read_day_word(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """today, tomorrow, next business day / nbd; each with an optional time."""
    match = _DAY_WORD_RE.fullmatch(text)
    if not match:
        return None
    word, time_text = match["day"], match["time"]
    at_time = _parse_time(time_text, bare_ok=True) if time_text else None
    if time_text and at_time is None:
        return None
    today = _local_date(calendar, now)
    if word == "today":
        if at_time is None:
            return calendar.end_of_day(now)
        return _instant(calendar, today, at_time)
    if word.startswith("t"):  # tomorrow: the next calendar day, moved to a business day
        day = _business_day_from(calendar, today + timedelta(days=1))
        return _instant(calendar, day, at_time or calendar.end)
    return calendar.next_business_day(now, at_time)


def _read_weekday(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """fri, friday, fri 3pm, next tue: the next such day whose time is still ahead."""
    match = _WEEKDAY_RE.fullmatch(text)
    if not match or match["day"] not in WEEKDAY_ALIASES:
        return None
    at_time = _parse_time(match["time"], bare_ok=True) if match["time"] else None
    if match["time"] and at_time is None:
        return None
    today = _local_date(calendar, now)
    day = today + timedelta(days=(WEEKDAY_ALIASES[match["day"]] - today.weekday()) % 7)
    for _ in range(2):
        result = _close_of(calendar, day) if at_time is None else _instant(calendar, day, at_time)
        if result > now:
            return result
        day += timedelta(days=7)
    return None  # pragma: no cover - a week later is always ahead


def _read_clock_time(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """15:00, 3pm, 3:30pm: today if still ahead, else the next business day."""
    at_time = _parse_time(text, bare_ok=False)
    if at_time is None:
        return None
    today_at = _instant(calendar, _local_date(calendar, now), at_time)
    return today_at if today_at > now else calendar.next_business_day(now, at_time)


def _read_iso(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """2026-11-24, 2026-11-24 15:00, 2026-11-24T15:00:00+01:00 (no offset: calendar time)."""
    match = _ISO_RE.fullmatch(text)
    if not match:
        return None
    try:
        day = date.fromisoformat(match["date"])
        if match["time"] is None:
            return _close_of(calendar, day)
        hh, mm, *ss = match["time"].split(":")
        seconds = float(ss[0]) if ss else 0.0
        at_time = time(int(hh), int(mm), int(seconds), round(seconds % 1 * 1_000_000))
    except (ValueError, OverflowError):
        raise DeadlineError(f"'{text}' is not a valid date and time.") from None
    if match["off"] is None:
        return _instant(calendar, day, at_time)
    tzinfo = UTC if match["off"] == "z" else _offset(match["off"])
    return datetime.combine(day, at_time, tzinfo=tzinfo).astimezone(UTC)


def _offset(text: str) -> timezone:
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    if delta >= timedelta(hours=24):
        raise DeadlineError(f"'{text}' is not a valid UTC offset.")
    return timezone(-delta if text[0] == "-" else delta)


def _read_with_dateparser(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """Other absolute dates ("24 Nov 15:00", "Nov 24"); a bare date means close of business."""
    local_now = now.astimezone(calendar.zone)
    try:
        parsed = dateparser.parse(
            text,
            languages=["en"],
            settings={
                "RELATIVE_BASE": local_now.replace(tzinfo=None),
                "TIMEZONE": calendar.tz,
                "TO_TIMEZONE": calendar.tz,
                "PREFER_DATES_FROM": "future",
                "RETURN_AS_TIMEZONE_AWARE": True,
                "PARSERS": ["relative-time", "custom-formats", "absolute-time"],
            },
        )
    except Exception:  # dateparser can fail in many ways on odd input; all mean "unreadable"
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=calendar.zone)
    if _HAS_TIME_RE.search(text):
        return parsed.astimezone(UTC)
    day, today = _local_date(calendar, parsed), local_now.date()
    # "Nov 23" said on 23 Nov means today, but a future preference pushes it a year ahead.
    if not _HAS_YEAR_RE.search(text) and (day.month, day.day, day.year) == (
        today.month,
        today.day,
        today.year + 1,
    ):
        day = today
    return _close_of(calendar, day)


_Reader = Callable[[str, datetime, Calendar], "datetime | None"]
_READERS: tuple[_Reader, ...] = (
    _read_duration,
    _read_business_words,
    _read_day_word,
    _read_weekday,
    _read_clock_time,
    _read_iso,
    _read_with_dateparser,
)
