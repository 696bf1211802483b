"""Business-time arithmetic across evenings, weekends, holidays, time zones and DST."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.business_time import Calendar, format_when, parse_workdays

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# -- construction and parsing -------------------------------------------------------------------


def test_defaults_are_utc_nine_to_five_weekdays() -> None:
    cal = Calendar()
    assert cal.zone == ZoneInfo("UTC")
    assert cal.workdays == frozenset(range(5))
    assert (cal.start, cal.end) == (time(9), time(17))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tz": "Mars/Olympus"}, "Mars/Olympus"),
        ({"tz": ""}, "time zone"),
        ({"workdays": frozenset()}, "at least one workday"),
        ({"workdays": frozenset({7})}, "Monday"),
        ({"start": time(17), "end": time(9)}, "end after"),
        ({"start": time(9), "end": time(9)}, "end after"),
        ({"country": "XX"}, "XX"),
        ({"country": "GB", "subdiv": "NOPE"}, "NOPE"),
    ],
)
def test_invalid_calendars_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Calendar(**kwargs)  # type: ignore[arg-type]


def test_country_code_is_case_insensitive_and_sets_are_frozen() -> None:
    cal = Calendar(country="us", workdays={0, 1})  # type: ignore[arg-type]
    assert cal.country == "US"
    assert cal.workdays == frozenset({0, 1})
    assert hash(cal)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00-17:00", (time(9), time(17))),
        ("9-17", (time(9), time(17))),
        ("8:30-16:30", (time(8, 30), time(16, 30))),
        (" 8:30 to 16:30 ", (time(8, 30), time(16, 30))),
    ],
)
def test_parse_hours(text: str, expected: tuple[time, time]) -> None:
    assert Calendar.parse_hours(text) == expected


@pytest.mark.parametrize("text", ["", "nine to five", "17-9", "9-25", "9:75-17", "9"])
def test_parse_hours_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"hours|range"):
        Calendar.parse_hours(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("sun-thu", {6, 0, 1, 2, 3}),
        ("mon,tue,thu", {0, 1, 3}),
        ("Mon - Wed, Fri", {0, 1, 2, 4}),
        ("saturday", {5}),
        ("fri-mon", {4, 5, 6, 0}),
    ],
)
def test_parse_workdays(text: str, expected: set[int]) -> None:
    assert parse_workdays(text) == frozenset(expected)


@pytest.mark.parametrize("text", ["", "weekdays", "mon-funday", "1-5"])
def test_parse_workdays_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="days"):
        parse_workdays(text)


def test_format_when_is_short_and_local() -> None:
    assert format_when(utc(2026, 11, 24, 17), "UTC") == "Tue 24 Nov 17:00"
    assert format_when(utc(2026, 11, 24, 17), "Asia/Tokyo") == "Wed 25 Nov 02:00"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        Calendar().is_open(datetime(2026, 11, 23, 10))


# -- days and instants --------------------------------------------------------------------------


def test_holidays_us_thanksgiving_and_gb_christmas() -> None:
    us, gb = Calendar(country="US"), Calendar(country="GB", subdiv="ENG")
    assert us.is_holiday(date(2026, 11, 26))
    assert not us.is_business_day(date(2026, 11, 26))
    assert us.is_business_day(date(2026, 11, 27))
    assert gb.is_holiday(date(2026, 12, 25))
    assert gb.is_holiday(date(2026, 12, 28))  # Boxing Day falls on Saturday: Monday off
    assert not Calendar().is_holiday(date(2026, 12, 25))
    assert not gb.is_business_day(date(2026, 11, 28))  # plain Saturday


def test_is_open_is_half_open_on_the_hours() -> None:
    cal = Calendar(tz="Europe/London")
    assert not cal.is_open(at(LONDON, 2026, 11, 23, 8, 59))
    assert cal.is_open(at(LONDON, 2026, 11, 23, 9, 0))
    assert cal.is_open(at(LONDON, 2026, 11, 23, 16, 59))
    assert not cal.is_open(at(LONDON, 2026, 11, 23, 17, 0))
    assert not cal.is_open(at(LONDON, 2026, 11, 28, 12, 0))


def test_next_open() -> None:
    cal = Calendar(tz="Europe/London")
    inside = at(LONDON, 2026, 11, 23, 10)
    assert cal.next_open(inside) == inside and cal.next_open(inside).tzinfo == UTC
    assert cal.next_open(at(LONDON, 2026, 11, 23, 7)) == at(LONDON, 2026, 11, 23, 9)
    assert cal.next_open(at(LONDON, 2026, 11, 27, 17)) == at(LONDON, 2026, 11, 30, 9)


def test_end_of_day_and_next_business_day() -> None:
    cal = Calendar(tz="America/New_York", country="US")
    assert cal.end_of_day(at(NEW_YORK, 2026, 11, 25, 10)) == at(NEW_YORK, 2026, 11, 25, 17)
    # After close on the eve of Thanksgiving: the next business day is Friday.
    assert cal.end_of_day(at(NEW_YORK, 2026, 11, 25, 17)) == at(NEW_YORK, 2026, 11, 27, 17)
    assert cal.end_of_day(at(NEW_YORK, 2026, 11, 28, 9)) == at(NEW_YORK, 2026, 11, 30, 17)
    nbd = cal.next_business_day(at(NEW_YORK, 2026, 11, 25, 8))
    assert nbd == at(NEW_YORK, 2026, 11, 27, 17)
    assert cal.next_business_day(at(NEW_YORK, 2026, 11, 25, 8), time(10)) == at(
        NEW_YORK, 2026, 11, 27, 10
    )


# -- add and between ----------------------------------------------------------------------------


def test_add_within_a_day_and_across_the_evening() -> None:
    cal = Calendar(tz="Europe/London")
    mon = at(LONDON, 2026, 11, 23, 10)
    assert cal.add(mon, timedelta(hours=4)) == at(LONDON, 2026, 11, 23, 14)
    assert cal.add(mon, timedelta(hours=7)) == at(LONDON, 2026, 11, 23, 17)  # lands on close
    assert cal.add(mon, timedelta(hours=8)) == at(LONDON, 2026, 11, 24, 10)
    assert cal.add(mon, timedelta(hours=40)) == at(LONDON, 2026, 11, 30, 10)


def test_add_outside_hours_starts_at_next_opening() -> None:
    cal = Calendar(tz="Europe/London")
    assert cal.add(at(LONDON, 2026, 11, 28, 12), timedelta(hours=1)) == at(LONDON, 2026, 11, 30, 10)
    assert cal.add(at(LONDON, 2026, 11, 23, 6), timedelta(0)) == at(LONDON, 2026, 11, 23, 9)
    with pytest.raises(ValueError, match="negative"):
        cal.add(at(LONDON, 2026, 11, 23, 10), timedelta(hours=-1))


def test_add_skips_the_weekend_and_us_thanksgiving() -> None:
    cal = Calendar(tz="America/New_York", country="US")
    wed = at(NEW_YORK, 2026, 11, 25, 16)
    assert cal.add(wed, timedelta(hours=2)) == at(NEW_YORK, 2026, 11, 27, 10)
    assert cal.between(wed, at(NEW_YORK, 2026, 11, 27, 10)) == timedelta(hours=2)
    assert cal.add(at(NEW_YORK, 2026, 11, 27, 16), timedelta(hours=2)) == at(
        NEW_YORK, 2026, 11, 30, 10
    )


def test_add_skips_gb_christmas_and_boxing_day() -> None:
    cal = Calendar(tz="Europe/London", country="GB", subdiv="ENG")
    christmas_eve = at(LONDON, 2026, 12, 24, 16)
    assert cal.add(christmas_eve, timedelta(hours=2)) == at(LONDON, 2026, 12, 29, 10)
    assert cal.between(christmas_eve, at(LONDON, 2026, 12, 31, 9)) == timedelta(hours=17)


def test_same_instant_in_tokyo_and_new_york() -> None:
    instant = utc(2026, 11, 23, 0)  # Mon 09:00 in Tokyo, Sun 19:00 in New York
    tokyo, new_york = Calendar(tz="Asia/Tokyo"), Calendar(tz="America/New_York")
    assert tokyo.is_open(instant) and not new_york.is_open(instant)
    assert tokyo.add(instant, timedelta(hours=1)) == at(TOKYO, 2026, 11, 23, 10)
    assert new_york.add(instant, timedelta(hours=1)) == at(NEW_YORK, 2026, 11, 23, 10)
    assert tokyo.add(instant, timedelta(hours=1)).tzinfo == UTC


def test_london_dst_changes_keep_local_hours() -> None:
    cal = Calendar(tz="Europe/London")
    # Clocks go forward on Sun 29 Mar 2026: Fri 16:00 GMT + 2h = Mon 10:00 BST = 09:00 UTC.
    spring = cal.add(at(LONDON, 2026, 3, 27, 16), timedelta(hours=2))
    assert spring == at(LONDON, 2026, 3, 30, 10) == utc(2026, 3, 30, 9)
    # Clocks go back on Sun 25 Oct 2026: Fri 16:00 BST + 2h = Mon 10:00 GMT = 10:00 UTC.
    autumn = cal.add(at(LONDON, 2026, 10, 23, 16), timedelta(hours=2))
    assert autumn == at(LONDON, 2026, 10, 26, 10) == utc(2026, 10, 26, 10)
    assert cal.between(at(LONDON, 2026, 10, 23, 9), at(LONDON, 2026, 10, 26, 17)) == timedelta(
        hours=16
    )


def test_business_time_on_a_dst_day_is_real_elapsed_time() -> None:
    cal = Calendar(tz="Europe/London", workdays=frozenset(range(7)), start=time(0), end=time(23))
    day_start = at(LONDON, 2026, 3, 29, 0)
    assert cal.between(day_start, at(LONDON, 2026, 3, 30, 0)) == timedelta(hours=22)
    assert cal.add(day_start, timedelta(hours=22)) == at(LONDON, 2026, 3, 29, 23)


def test_between_is_zero_when_reversed() -> None:
    cal = Calendar()
    assert cal.between(utc(2026, 11, 24, 10), utc(2026, 11, 23, 10)) == timedelta(0)
    assert cal.between(utc(2026, 11, 28, 10), utc(2026, 11, 29, 10)) == timedelta(0)


def test_add_loops_per_day_not_per_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    cal = Calendar(tz="Europe/London", country="GB")
    looked_at: list[date] = []
    real = Calendar.is_business_day

    def counting(self: Calendar, day: date) -> bool:
        looked_at.append(day)
        return real(self, day)

    monkeypatch.setattr(Calendar, "is_business_day", counting)
    result = cal.add(at(LONDON, 2026, 1, 5, 9), timedelta(hours=2000))
    # 2000 business hours are 250 working days, about 360 calendar days: a few looks per day
    assert len(looked_at) < 4 * 400
    assert cal.between(at(LONDON, 2026, 1, 5, 9), result) == timedelta(hours=2000)


# -- properties ---------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
HOURS = [(time(9), time(17)), (time(8, 30), time(16, 30)), (time(0), time(23, 59))]


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    start, end = draw(st.sampled_from(HOURS))
    return Calendar(
        tz=draw(st.sampled_from(ZONES)),
        workdays=draw(st.frozensets(st.integers(0, 6), min_size=1)),
        start=start,
        end=end,
        country=draw(st.sampled_from([None, "US", "GB"])),
    )


instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
durations = st.integers(0, 200 * 60).map(lambda minutes: timedelta(minutes=minutes))


@settings(max_examples=150, deadline=None)
@given(calendars(), instants, durations)
def test_between_inverts_add(cal: Calendar, start: datetime, delta: timedelta) -> None:
    opened = cal.next_open(start)
    assert cal.is_open(opened)
    assert cal.between(opened, cal.add(opened, delta)) == delta


@settings(max_examples=100, deadline=None)
@given(calendars(), instants, durations, durations)
def test_add_is_monotonic(cal: Calendar, start: datetime, d1: timedelta, d2: timedelta) -> None:
    low, high = sorted((d1, d2))
    assert start <= cal.add(start, low) <= cal.add(start, high)


@settings(max_examples=100, deadline=None)
@given(calendars(), instants, durations)
def test_add_lands_in_business_hours_or_at_close(
    cal: Calendar, start: datetime, delta: timedelta
) -> None:
    result = cal.add(start, delta)
    assert result.tzinfo == UTC
    local_day = result.astimezone(cal.zone).date()
    at_close = result == datetime.combine(local_day, cal.end, tzinfo=cal.zone)
    assert cal.is_open(result) or (at_close and cal.is_business_day(local_day))


@settings(max_examples=100, deadline=None)
@given(calendars(), instants)
def test_end_of_day_is_never_before_now(cal: Calendar, now: datetime) -> None:
    eod = cal.end_of_day(now)
    assert eod > now
    assert cal.is_business_day(eod.astimezone(cal.zone).date())
    assert cal.next_open(now) >= now


# -- properties around DST changes, holidays and the turn of the year ----------------------------

DST_ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # a half-hour DST shift
    "America/Santiago",  # changes at midnight, so a local day may start at 01:00
    "Asia/Kolkata",  # no DST, a half-hour offset
]
DST_HOURS = [*HOURS, (time(0, 30), time(2, 30)), (time(1), time(3))]  # spans a change can cut
CHANGES = [date(2026, 3, 8), date(2026, 3, 29), date(2026, 4, 5), date(2026, 9, 6)]
CHANGES += [date(2026, 10, 4), date(2026, 10, 25), date(2026, 11, 1), date(2026, 12, 25)]


@st.composite
def dst_calendars(draw: st.DrawFn) -> Calendar:
    start, end = draw(st.sampled_from(DST_HOURS))
    return Calendar(
        tz=draw(st.sampled_from(DST_ZONES)),
        workdays=draw(st.frozensets(st.integers(0, 6), min_size=1)),
        start=start,
        end=end,
        country=draw(st.sampled_from([None, "US", "GB", "AU"])),
    )


near_changes = st.builds(
    lambda day, minutes: (
        datetime.combine(day, time(), tzinfo=UTC) + timedelta(days=-2, minutes=minutes)
    ),
    st.sampled_from(CHANGES),
    st.integers(0, 4 * 24 * 60),
)


@settings(max_examples=300, deadline=None)
@given(dst_calendars(), st.one_of(near_changes, instants), durations)
def test_adding_then_measuring_back_gives_the_same_amount(
    cal: Calendar, start: datetime, delta: timedelta
) -> None:
    """From any start, in hours or not: what is added is what is measured back."""
    assert cal.between(start, cal.add(start, delta)) == delta


@settings(max_examples=200, deadline=None)
@given(dst_calendars(), st.one_of(near_changes, instants), durations, durations)
def test_business_time_adds_up_in_steps(
    cal: Calendar, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    """Adding d1 then d2 lands where adding d1 + d2 does, across any change of the clocks."""
    assert cal.add(cal.add(start, d1), d2) == cal.add(start, d1 + d2)


@settings(max_examples=200, deadline=None)
@given(dst_calendars(), st.one_of(near_changes, instants), durations)
@example(  # a close at 02:30 on the night Sydney's clocks go back: the wall time happens twice
    cal=Calendar(
        tz="Australia/Sydney", workdays=frozenset({6}), start=time(0, 30), end=time(2, 30)
    ),
    start=datetime(2025, 4, 20, tzinfo=UTC),
    delta=timedelta(minutes=6000),
)
def test_added_time_lands_in_working_hours_around_changes(
    cal: Calendar, start: datetime, delta: timedelta
) -> None:
    result = cal.add(start, delta)
    assert result >= start
    local_day = result.astimezone(cal.zone).date()
    # a day's close is its closing instant, or its opening one when a change empties the day;
    # compared as instants, since an ambiguous wall time never equals one in another zone (PEP 495)
    at_close = result.timestamp() == max(
        datetime.combine(local_day, cal.start, tzinfo=cal.zone).timestamp(),
        datetime.combine(local_day, cal.end, tzinfo=cal.zone).timestamp(),
    )
    assert cal.is_open(result) or (at_close and cal.is_business_day(local_day))


def test_format_when_shows_the_year_only_when_it_is_not_now_s() -> None:
    new_year = utc(2027, 1, 5, 17)
    assert format_when(new_year, "Europe/London") == "Tue 5 Jan 17:00"
    assert format_when(new_year, "Europe/London", now=utc(2027, 1, 4)) == "Tue 5 Jan 17:00"
    assert format_when(new_year, "Europe/London", now=utc(2026, 12, 31)) == "Tue 5 Jan 2027 17:00"
    # the year is the reader's: 23:30 UTC on 31 Dec is already next year in Tokyo
    eve = utc(2026, 12, 31, 23, 30)
    assert format_when(eve, "Asia/Tokyo", now=utc(2026, 12, 31, 12)) == "Fri 1 Jan 2027 08:30"
    assert format_when(eve, "Europe/London", now=utc(2026, 12, 31, 12)) == "Thu 31 Dec 23:30"
