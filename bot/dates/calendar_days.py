"""Deadlines named by their calendar date: ISO ("2026-11-24 15:00"), a day and a month ("24 Nov",
"nov 24 3pm", "3 mar 2027"), and what else dateparser reads.

A day and month without a year mean this year. When that day is over, the words are refused with
the date they were read as, rather than silently meaning next year: "3 mar" said in December is
more likely a slip than a deadline eleven months away, and whoever means next year can say so.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone

import dateparser

from bot.business_time import MONTH_NAMES, Calendar, format_day
from bot.dates.days import close_of, instant, local_date, parse_time
from bot.dates.refusal import refuse

_ISO_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[t ](?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(?P<off>z|[+-]\d{2}:?\d{2})?)?"
)
MONTHS = """jan january feb february mar march apr april may jun june jul july aug august
    sep sept september oct october nov november dec december""".split()
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DAY_MONTH_RE = re.compile(
    rf"(?:on\s+)?(?:the\s+)?(?:(?P<d1>{_DAY})\s+(?:of\s+)?(?P<m1>{_MONTH})\.?"
    rf"|(?P<m2>{_MONTH})\.?\s+(?:the\s+)?(?P<d2>{_DAY}))"
    r"(?:,?\s+(?P<year>\d{4}))?(?:,?\s+(?P<time>.+))?"
)
_HAS_TIME_RE = re.compile(r"\d:\d\d|\d\s*(?:am|pm)\b|\bnoon\b|\bmidday\b")
_HAS_YEAR_RE = re.compile(r"\b\d{4}\b")


def read_iso(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """2026-11-24, 2026-11-24 15:00, 2026-11-24T15:00:00+01:00 (no offset: calendar time)."""
    match = _ISO_RE.fullmatch(text)
    if not match:
        return None
    try:
        day = date.fromisoformat(match["date"])
        at_time = None
        if match["time"] is not None:
            hh, mm, *ss = match["time"].split(":")
            seconds = float(ss[0]) if ss else 0.0
            at_time = time(int(hh), int(mm), int(seconds), round(seconds % 1 * 1_000_000))
    except (ValueError, OverflowError):
        raise refuse("dates_not_a_valid_date", words=text) from None
    if at_time is None:
        return close_of(calendar, day, now)
    if match["off"] is None:
        return instant(calendar, day, at_time)
    tzinfo = UTC if match["off"] == "z" else _offset(match["off"])
    return datetime.combine(day, at_time, tzinfo=tzinfo).astimezone(UTC)


def _offset(text: str) -> timezone:
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    if delta >= timedelta(hours=24):
        raise refuse("dates_not_a_valid_offset", words=text)
    return timezone(-delta if text[0] == "-" else delta)


def read_day_month(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """ "24 nov", "24th of november 15:00", "nov 24 3pm", "3 mar 2027"; a bare date means
    close of business (of the next business day when it is not one)."""
    match = _DAY_MONTH_RE.fullmatch(text)
    if not match:
        return None
    at_time = parse_time(match["time"], bare_ok=False) if match["time"] else None
    if match["time"] and at_time is None:
        return None
    number = int(re.sub(r"\D", "", match["d1"] or match["d2"]))
    month = _month(match)
    today = local_date(calendar, now)
    year = int(match["year"]) if match["year"] else today.year
    try:
        day = date(year, month, number)
    except ValueError:
        shown = f"{number} {MONTH_NAMES[month - 1]}"
        named_year = match["year"] or (month, number) == (2, 29)
        raise refuse(
            "dates_no_such_day", words=text, day=f"{shown} {year}" if named_year else shown
        ) from None
    if day < today and not match["year"]:
        _refuse_passed_this_year(day, today)
    if at_time is None:
        return close_of(calendar, day, now)
    return instant(calendar, day, at_time)


def _month(match: re.Match[str]) -> int:
    name = match["m1"] or match["m2"]
    return MONTH_NAMES.index(name[:3].capitalize()) + 1


def _refuse_passed_this_year(day: date, today: date) -> None:
    """Refuse a day and month that are over this year, naming the year to write instead."""
    try:
        following = day.replace(year=day.year + 1)
    except ValueError:  # 29 Feb: no such day next year either
        raise refuse("dates_day_passed", day=format_day(day, this_year=today.year)) from None
    raise refuse(
        "dates_passed_this_year",
        day=f"{format_day(day)} {day.year}",
        next=format_day(following, this_year=today.year),
        example=f"{following.day} {MONTH_NAMES[following.month - 1]} {following.year}",
    )


def read_with_dateparser(text: str, now: datetime, calendar: Calendar) -> datetime | None:
    """Other absolute dates dateparser knows; a bare date means close of business. A date
    without a year that dateparser moved to next year because it is over is refused."""
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
    day, today = local_date(calendar, parsed), local_now.date()
    if day.year > today.year and not _HAS_YEAR_RE.search(text):
        try:
            this_year = day.replace(year=today.year)
        except ValueError:
            this_year = None
        if this_year is not None and this_year < today:
            _refuse_passed_this_year(this_year, today)
        if this_year == today:  # "Nov 23" said on 23 Nov means today, not next year
            day = today
    if _HAS_TIME_RE.search(text):
        return parsed.astimezone(UTC)
    return close_of(calendar, day, now)
