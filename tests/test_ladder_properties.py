"""Properties of the ladder's arithmetic over arbitrary windows and calendars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.business_time import Calendar
from bot.ladder import latest_before, step_times
from bot.policy import Policy

CALENDARS = st.sampled_from(
    [
        Calendar(tz="Europe/London", country="GB"),
        Calendar(tz="Asia/Tokyo", country="JP"),
        Calendar(tz="America/New_York", country="US"),
        Calendar(tz="UTC", workdays=frozenset(range(7))),
    ]
)
START = datetime(2026, 11, 20, tzinfo=UTC)
instants = st.integers(min_value=0, max_value=60 * 24 * 40).map(
    lambda m: START + timedelta(minutes=m)
)
windows = st.integers(min_value=1, max_value=60 * 24 * 10).map(lambda m: timedelta(minutes=m))


@settings(max_examples=150, deadline=None)
@given(cal=CALENDARS, opened=instants, window=windows)
def test_steps_are_ordered_inside_the_window(
    cal: Calendar, opened: datetime, window: timedelta
) -> None:
    deadline = opened + window
    t = step_times(cal, opened, deadline, Policy())
    assert opened <= t["nudge"] <= t["at_risk"] <= t["overdue"] == deadline


@settings(max_examples=150, deadline=None)
@given(cal=CALENDARS, now=instants, ahead=windows, buffer_min=st.integers(15, 240))
def test_shortened_deadline_leaves_the_buffer(
    cal: Calendar, now: datetime, ahead: timedelta, buffer_min: int
) -> None:
    promise = now + ahead
    buffer = timedelta(minutes=buffer_min)
    latest = latest_before(cal, promise, buffer, now)
    if cal.between(now, promise) >= buffer:
        assert cal.between(latest, promise) >= buffer
        # and it is the latest such minute (give or take the rounding to a whole minute)
        assert (
            cal.between(latest + timedelta(minutes=2), promise) < buffer
            or (latest + timedelta(minutes=2) >= promise)
            or not cal.is_open(latest + timedelta(minutes=1))
        )
    else:
        assert latest == now
