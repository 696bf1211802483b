"""Deadline words, counted in a calendar, with fixed clocks."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.business_time import Calendar
from bot.deadlines import DeadlineError, looks_like_deadline, parse_deadline

LONDON = ZoneInfo("Europe/London")
UK = Calendar(tz="Europe/London", country="GB", subdiv="ENG")
US = Calendar(tz="America/New_York", country="US")

MON_10 = datetime(2026, 11, 23, 10, 0, tzinfo=LONDON)
FRI_1630 = datetime(2026, 11, 27, 16, 30, tzinfo=LONDON)
SAT_NOON = datetime(2026, 11, 28, 12, 0, tzinfo=LONDON)


def london(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


MONDAY_CASES = {
    # business durations
    "4h": london(11, 23, 14),
    "30m": london(11, 23, 10, 30),
    "1h30m": london(11, 23, 11, 30),
    "1h 30m": london(11, 23, 11, 30),
    "2d": london(11, 25, 10),
    "90 min": london(11, 23, 11, 30),
    "2 hours": london(11, 23, 12),
    "in 4h": london(11, 23, 14),
    "in 2 business days": london(11, 25, 10),
    "8h": london(11, 24, 10),
    "1.5h": london(11, 23, 11, 30),
    # business words
    "eod": london(11, 23, 17),
    "End of Day": london(11, 23, 17),
    "today": london(11, 23, 17),
    "eow": london(11, 27, 17),
    "end of week": london(11, 27, 17),
    "tomorrow": london(11, 24, 17),
    "tomorrow 17:00": london(11, 24, 17),
    "tomorrow 3pm": london(11, 24, 15),
    "tomorrow at 10": london(11, 24, 10),
    "next business day": london(11, 24, 17),
    "nbd": london(11, 24, 17),
    "next business day 12:00": london(11, 24, 12),
    # weekdays
    "fri": london(11, 27, 17),
    "friday": london(11, 27, 17),
    "fri 3pm": london(11, 27, 15),
    "monday 10:00": london(11, 30, 10),  # 10:00 today is not ahead any more
    "mon 11:00": london(11, 23, 11),
    "monday": london(11, 23, 17),
    "next tue": london(11, 24, 17),
    # clock times
    "15:00": london(11, 23, 15),
    "3pm": london(11, 23, 15),
    "3:30pm": london(11, 23, 15, 30),
    "9am": london(11, 24, 9),
    "at 10": london(11, 24, 10),
    # ISO and dates
    "2026-11-24": london(11, 24, 17),
    "2026-11-24 15:00": london(11, 24, 15),
    "2026-11-24T15:00": london(11, 24, 15),
    "2026-11-24T15:00:00+01:00": london(11, 24, 14),
    "2026-11-24T15:00Z": london(11, 24, 15),
    "24 Nov 15:00": london(11, 24, 15),
    "Nov 24": london(11, 24, 17),
    "nov 23": london(11, 23, 17),
    "2026-11-28": london(11, 30, 17),  # a Saturday: close of the next business day
}


@pytest.mark.parametrize(("text", "expected"), MONDAY_CASES.items())
def test_forms_on_monday_morning(text: str, expected: datetime) -> None:
    result = parse_deadline(f"  {text.upper()} ", now=MON_10, calendar=UK)
    assert result == expected
    assert result.tzinfo == UTC
    assert looks_like_deadline(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4h", london(11, 30, 12, 30)),
        ("30m", london(11, 27, 17)),
        ("2d", london(12, 1, 16, 30)),
        ("eod", london(11, 27, 17)),
        ("eow", london(11, 27, 17)),
        ("tomorrow", london(11, 30, 17)),
        ("tomorrow 10:00", london(11, 30, 10)),
        ("fri", london(11, 27, 17)),
        ("fri 3pm", london(12, 4, 15)),
        ("3pm", london(11, 30, 15)),
        ("nbd", london(11, 30, 17)),
    ],
)
def test_forms_late_on_friday(text: str, expected: datetime) -> None:
    assert parse_deadline(text, now=FRI_1630, calendar=UK) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4h", london(11, 30, 13)),
        ("2d", london(12, 1, 12)),
        ("eod", london(11, 30, 17)),
        ("today", london(11, 30, 17)),
        ("eow", london(12, 4, 17)),
        ("tomorrow", london(11, 30, 17)),
        ("monday 10:00", london(11, 30, 10)),
        ("3pm", london(11, 28, 15)),  # still ahead today, even on a Saturday
    ],
)
def test_forms_on_saturday(text: str, expected: datetime) -> None:
    assert parse_deadline(text, now=SAT_NOON, calendar=UK) == expected


def test_evening_day_durations_count_from_close() -> None:
    evening = london(11, 23, 20)
    assert parse_deadline("2d", now=evening, calendar=UK) == london(11, 25, 17)
    assert parse_deadline("1h", now=evening, calendar=UK) == london(11, 24, 10)


def test_holidays_are_skipped() -> None:
    christmas_eve = london(12, 24, 16)
    assert parse_deadline("2h", now=christmas_eve, calendar=UK) == london(12, 29, 10)
    assert parse_deadline("tomorrow", now=christmas_eve, calendar=UK) == london(12, 29, 17)
    assert parse_deadline("nbd 9:30", now=christmas_eve, calendar=UK) == london(12, 29, 9, 30)
    assert parse_deadline("2026-12-25", now=christmas_eve, calendar=UK) == london(12, 29, 17)
    eve_of_thanksgiving = datetime(2026, 11, 25, 16, tzinfo=ZoneInfo("America/New_York"))
    assert parse_deadline("tomorrow", now=eve_of_thanksgiving, calendar=US) == datetime(
        2026, 11, 27, 17, tzinfo=ZoneInfo("America/New_York")
    )


def test_good_friday_ends_the_week_on_thursday() -> None:
    assert parse_deadline("eow", now=london(4, 1, 10), calendar=UK) == london(4, 2, 17)


def test_sunday_to_thursday_week() -> None:
    cal = Calendar(tz="Asia/Jerusalem", workdays=frozenset({6, 0, 1, 2, 3}))
    sunday = datetime(2026, 11, 22, 10, tzinfo=ZoneInfo("Asia/Jerusalem"))
    assert parse_deadline("eow", now=sunday, calendar=cal) == datetime(
        2026, 11, 26, 17, tzinfo=ZoneInfo("Asia/Jerusalem")
    )


def test_calendar_time_zone_is_used() -> None:
    tokyo = Calendar(tz="Asia/Tokyo")
    now = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # 09:00 Monday in Tokyo
    assert parse_deadline("eod", now=now, calendar=tokyo) == datetime(2026, 11, 23, 8, tzinfo=UTC)
    assert parse_deadline("15:00", now=now, calendar=tokyo) == datetime(2026, 11, 23, 6, tzinfo=UTC)


def test_past_time_message_names_the_time() -> None:
    now = datetime(2026, 11, 23, 10, tzinfo=UTC)
    with pytest.raises(DeadlineError) as caught:
        parse_deadline("2026-11-23 08:00", now=now, calendar=Calendar())
    assert str(caught.value) == "That time (Mon 23 Nov 08:00 UTC) has already passed."
    with pytest.raises(DeadlineError, match="already passed"):
        parse_deadline("today 9am", now=now, calendar=Calendar())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Give a time"),
        ("   ", "Give a time"),
        ("blurb", "I can't read 'blurb' as a time. Try 4h, eod"),
        ("finance", "can't read"),
        ("0h", "no time at all"),
        ("0 business days", "no time at all"),
        ("400d", "more than a year"),
        ("99999999999999999999h", "more than a year"),
        ("2028-01-01", "more than a year"),
        ("tomorrow 25:00", "not a time of day"),
        ("13pm", "not a time of day"),
        ("2026-13-45", "not a valid date"),
        ("2026-11-24T15:00+25:00", "not a valid UTC offset"),
        ("2020-01-01", "already passed"),
        ("tomorrow blurb", "can't read"),
    ],
)
def test_errors_are_specific(text: str, message: str) -> None:
    with pytest.raises(DeadlineError, match=message):
        parse_deadline(text, now=MON_10, calendar=UK)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_deadline("4h", now=datetime(2026, 11, 23, 10), calendar=UK)


@pytest.mark.parametrize("text", ["finance", "the team", "dana", "", "the", "in", "ask bob"])
def test_ordinary_words_are_not_deadlines(text: str) -> None:
    assert not looks_like_deadline(text)


# -- properties ---------------------------------------------------------------------------------

WORDS = [
    *"4h 30m 2d 1h30m 90 min hours in business days eod eow today tomorrow at next".split(),
    *"nbd fri monday tue 3pm 15:00 3:30pm 2026-11-24 2026-11-24T15:00 nov 24 dec 0".split(),
    *"13 25:00 99 . - : + the team finance 1e9 2026-02-30 12am noon week end of".split(),
]
texts = st.one_of(
    st.text(max_size=25),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
)
nows = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(texts, nows)
def test_any_text_is_a_future_time_or_a_deadline_error(text: str, now: datetime) -> None:
    try:
        result = parse_deadline(text, now=now, calendar=UK)
    except DeadlineError as exc:
        assert str(exc)
        return
    assert result.tzinfo == UTC
    assert now < result <= now + timedelta(days=365)
    assert looks_like_deadline(text)
