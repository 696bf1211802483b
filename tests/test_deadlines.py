"""Deadline words, counted in a calendar, with fixed clocks."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.business_time import Calendar
from bot.deadlines import DeadlineError, looks_like_deadline, parse_deadline, words_after_by

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


# -- past, impossible and next-year dates ---------------------------------------------------------

SUN_NOON = london(11, 29, 12)
BOXING_DAY = london(12, 26, 12)  # a Saturday, the day after Christmas (a GB holiday)


@pytest.mark.parametrize(
    ("now", "text", "message"),
    [
        (SUN_NOON, "yesterday", "Yesterday was Sat 28 Nov, which has already passed"),
        (SUN_NOON, "yesterday 17:00", "Yesterday was Sat 28 Nov"),
        (SAT_NOON, "yesterday", "Yesterday was Fri 27 Nov"),
        (MON_10, "yesterday", "Yesterday was Sun 22 Nov"),
        (SUN_NOON, "2026-11-28", "That day (Sat 28 Nov) has already passed"),
        (BOXING_DAY, "2026-12-25", "That day (Fri 25 Dec) has already passed"),
        (BOXING_DAY, "yesterday", "Yesterday was Fri 25 Dec"),
        (SUN_NOON, "28 nov", "Sat 28 Nov 2026 has already passed. If you mean Sun 28 Nov 2027"),
        (london(12, 7, 10), "3 mar", "Tue 3 Mar 2026 has already passed"),
        (london(12, 7, 10), "march 3rd 10:00", "write the year: 3 Mar 2027"),
        (london(1, 5, 10, year=2027), "2026-12-31", "That day (Thu 31 Dec 2026) has already"),
        (MON_10, "2026-11-23 08:00", "That time (Mon 23 Nov 08:00 Europe/London)"),
        (london(1, 4, 10, year=2027), "2026-12-31 16:00", "(Thu 31 Dec 2026 16:00 Europe/London)"),
    ],
)
def test_a_time_that_is_over_is_refused_and_named(now: datetime, text: str, message: str) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse_deadline(text, now=now, calendar=UK)
    assert message in str(caught.value)
    assert "already passed" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-5h", "'-5h' is a negative time, and a deadline must be ahead: did you mean 5h?"),
        ("- 90 min", "did you mean 90 min?"),
        ("in -2 business days", "did you mean 2 business days?"),
        ("25:00", "'25:00' is not a time of day: hours go from 0 to 23, minutes from 0 to 59."),
        ("fri 24:30", "'24:30' is not a time of day"),
        ("0pm", "'0pm' is not a time of day: with am or pm, hours go from 1 to 12."),
        ("31 feb", "'31 feb' reads as 31 Feb, which is not a date."),
        ("feb 29", "'feb 29' reads as 29 Feb 2026, which is not a date."),
        ("31 apr 2027", "'31 apr 2027' reads as 31 Apr 2027, which is not a date."),
        ("0 dec", "reads as 0 Dec, which is not a date."),
        ("nov 30 25:00", "'25:00' is not a time of day"),
    ],
)
def test_impossible_times_are_refused_with_what_was_read(text: str, message: str) -> None:
    assert looks_like_deadline(text)
    with pytest.raises(DeadlineError) as caught:
        parse_deadline(text, now=MON_10, calendar=UK)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("now", "text", "expected"),
    [
        (london(12, 7, 10), "3 mar 2027", london(3, 3, 17, year=2027)),
        (london(12, 7, 10), "jan 5 2027 3pm", london(1, 5, 15, year=2027)),
        (london(12, 7, 10), "5 jan 2027", london(1, 5, 17, year=2027)),
        (MON_10, "the 24th of november 15:00", london(11, 24, 15)),
        (MON_10, "on dec 1", london(12, 1, 17)),
        (MON_10, "sept 1 2027", london(9, 1, 17, year=2027)),
        (SAT_NOON, "28 nov", london(11, 30, 17)),  # today, but a Saturday: Monday's close
        (SAT_NOON, "today", london(11, 30, 17)),
    ],
)
def test_dates_with_and_without_a_year(now: datetime, text: str, expected: datetime) -> None:
    assert parse_deadline(text, now=now, calendar=UK) == expected


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("whether the invoice was paid by the customer", "the customer"),
        ("paid by card, by the customer", "the customer"),
        ("By whom?", "whom?"),
        ("the line it stands by", None),  # nothing after "by"
        ("nearby things", None),
        ("no deadline here", None),
    ],
)
def test_words_after_by(question: str, words: str | None) -> None:
    assert words_after_by(question) == words


# -- properties across weekends, holidays, DST changes and time zones ----------------------------

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "UTC"]
CALENDARS = [
    UK,
    US,
    Calendar(tz="Australia/Sydney", country="AU", subdiv="NSW"),
    Calendar(tz="Australia/Lord_Howe", start=time(8, 30), end=time(16, 30)),
    Calendar(tz="Asia/Jerusalem", workdays=frozenset({6, 0, 1, 2, 3})),
    Calendar(tz="America/New_York", workdays=frozenset(range(7)), start=time(0), end=time(23, 59)),
]
# Days around the 2026-2027 DST changes of those zones, Christmas, and the turn of the year.
AROUND = [date(2026, 3, 8), date(2026, 3, 29), date(2026, 4, 5), date(2026, 10, 4)]
AROUND += [date(2026, 10, 25), date(2026, 11, 1), date(2026, 12, 25), date(2026, 12, 31)]
near_changes = st.builds(
    lambda day, minutes: (
        datetime.combine(day, time(), tzinfo=UTC) + timedelta(days=-3, minutes=minutes)
    ),
    st.sampled_from(AROUND),
    st.integers(0, 7 * 24 * 60),
)
any_nows = st.one_of(near_changes, nows)
# Forms without a time of day: they mean a working time, or a close of business.
_DAYLESS = [
    *"4h 30m 2d 1h30m 1.5h 8h 3d eod eow today tomorrow nbd fri monday sat sun".split(),
    "90 min",
    "in 2 business days",
    "next business day",
    "end of week",
    "next tue",
]


@st.composite
def day_words(draw: st.DrawFn, now: datetime) -> str:
    """A date near `now`, in one of its written forms (some before today, some after)."""
    day = now.date() + timedelta(days=draw(st.integers(-10, 40)))
    form = draw(st.sampled_from(["iso", "day month", "month day", "day month year"]))
    month = MONTHS_SHORT[day.month - 1]
    return {
        "iso": day.isoformat(),
        "day month": f"{day.day} {month}",
        "month day": f"{month} {day.day}",
        "day month year": f"{day.day} {month} {day.year}",
    }[form]


MONTHS_SHORT = "jan feb mar apr may jun jul aug sep oct nov dec".split()


def _in_working_hours(cal: Calendar, at: datetime) -> bool:
    local_day = at.astimezone(cal.zone).date()
    at_close = at == datetime.combine(local_day, cal.end, tzinfo=cal.zone)
    return cal.is_open(at) or (at_close and cal.is_business_day(local_day))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(CALENDARS), any_nows, st.data())
def test_a_deadline_without_a_clock_time_is_ahead_and_in_working_hours(
    cal: Calendar, now: datetime, data: st.DataObject
) -> None:
    text = data.draw(st.one_of(st.sampled_from(_DAYLESS), day_words(now)))
    try:
        result = parse_deadline(text, now=now, calendar=cal)
    except DeadlineError as exc:
        assert "already passed" in str(exc) or "more than a year" in str(exc)
        return
    assert now < result <= now + timedelta(days=365)
    assert _in_working_hours(cal, result), (text, result.astimezone(cal.zone))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CALENDARS), any_nows, st.data())
def test_a_named_day_before_today_is_always_refused(
    cal: Calendar, now: datetime, data: st.DataObject
) -> None:
    today = now.astimezone(cal.zone).date()
    day = today - timedelta(days=data.draw(st.integers(1, 20)))
    month = MONTHS_SHORT[day.month - 1]
    clock = data.draw(st.sampled_from(["", " 10:00", " 3pm"]))
    forms = [day.isoformat(), f"{day.day} {month} {day.year}"]
    if day.year == today.year:  # without a year, a day means this year's
        forms.append(f"{day.day} {month}")
    text = data.draw(st.sampled_from(forms))
    with pytest.raises(DeadlineError, match="already passed"):
        parse_deadline(text + clock, now=now, calendar=cal)
    with pytest.raises(DeadlineError, match="already passed"):
        parse_deadline("yesterday" + clock, now=now, calendar=cal)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CALENDARS), any_nows, texts)
def test_any_words_on_any_day_are_ahead_or_refused(cal: Calendar, now: datetime, text: str) -> None:
    try:
        result = parse_deadline(text, now=now, calendar=cal)
    except DeadlineError as exc:
        assert str(exc)
        return
    assert now < result <= now + timedelta(days=365)
