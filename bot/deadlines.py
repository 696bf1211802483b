"""Deadline words: turn what people type after "by" into an aware UTC instant.

The business forms (durations in working time, eod, tomorrow, next business day, weekdays,
clock times, ISO dates, a day and a month) are read with small regexes, because they depend on
the calendar and are cheap (`bot/dates/`). Other absolute dates fall through to dateparser,
which is slower and knows nothing about business days.

Whatever the form, the result is checked here once: a time that is over is refused, named as it
was understood, on any day (weekends and holidays included), never moved to a later day.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from bot.business_time import WEEKDAY_ALIASES, Calendar, format_when
from bot.dates.calendar_days import MONTHS, read_day_month, read_iso, read_with_dateparser
from bot.dates.refusal import DeadlineError, quoted, refuse
from bot.dates.working_words import (
    DURATION,
    MAX_AHEAD,
    UNIT,
    read_business_words,
    read_clock_time,
    read_day_word,
    read_duration,
    read_weekday,
)

__all__ = ["DeadlineError", "looks_like_deadline", "parse_deadline", "words_after_by"]

# looks_like_deadline vocabulary: filler words may appear but say nothing about time alone.
_FILLER = set("in at on the of and this next end close business working -".split())
_TIME_WORDS = """yesterday today tomorrow tmrw tmr eod eow cob eob nbd noon midday day days
    week weeks h hr hrs hour hours m min mins minute minutes d am pm""".split()
_STRONG = {*_TIME_WORDS, *MONTHS, *WEEKDAY_ALIASES}
# A leading minus keeps "-5h" a time (refused as negative), not words of the question.
_NUM_TOKEN_RE = re.compile(
    rf"-?(?:\d+(?:\.\d+)?{UNIT})+|-?\d[\d:./+-]*(?:t[\d:.+-]+)?z?(?:am|pm|st|nd|rd|th)?"
)
_NEGATIVE_RE = re.compile(rf"(?:in\s+)?-\s*(?P<duration>{DURATION})")
_BY_RE = re.compile(r"(?<!\S)by(?=\s)", re.IGNORECASE)


def looks_like_deadline(text: str) -> bool:
    """Cheap check that every word could belong to a deadline, at least one names a time, and
    the last is not a filler word (no time ends in "the" or "in").

    The command grammar uses it to decide whether the words after the last " by " are a
    time ("by 4h", "by fri 3pm") or part of the request ("ask the team by finance"), and where
    a time ends and a reason begins ("more-time R-7 fri 3pm the bank is slow").
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
    return strong and tokens[-1] not in _FILLER


def words_after_by(question: str) -> str | None:
    """The words after the last "by" of a question that kept them (no deadline was read)."""
    found = list(_BY_RE.finditer(question))
    words = question[found[-1].end() :].strip() if found else ""
    return quoted(words) if words else None


def parse_deadline(text: str, *, now: datetime, calendar: Calendar) -> datetime:
    """Read a deadline in `calendar` relative to `now`; returns an aware UTC instant after now.

    Raises DeadlineError with a message fit for the user for anything unusable.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("parse_deadline needs a timezone-aware `now`.")
    now = now.astimezone(UTC)
    cleaned = " ".join((text or "").lower().split())
    if not cleaned:
        raise refuse("dates_give_a_time")
    if negative := _NEGATIVE_RE.fullmatch(cleaned):
        raise refuse("dates_negative", words=quoted(text), positive=negative["duration"])
    if not looks_like_deadline(cleaned):
        raise refuse("dates_unreadable", words=quoted(text))
    result: datetime | None = None
    for reader in _READERS:
        result = reader(cleaned, now, calendar)
        if result is not None:
            break
    if result is None:
        raise refuse("dates_unreadable", words=quoted(text))
    if result <= now:
        when = f"{format_when(result, calendar.tz, now=now)} {calendar.tz}"
        raise refuse("dates_time_passed", when=when)
    if result - now > MAX_AHEAD:
        raise refuse("dates_too_far")
    return result


_Reader = Callable[[str, datetime, Calendar], "datetime | None"]
_READERS: tuple[_Reader, ...] = (
    read_duration,
    read_business_words,
    read_day_word,
    read_weekday,
    read_clock_time,
    read_iso,
    read_day_month,
    read_with_dateparser,
)
