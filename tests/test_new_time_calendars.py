"""The honest new time across time zones: a colleague whose day ends before the deadline is
expected by the deadline (within their day), not at their next morning."""

from __future__ import annotations

from tests.conftest import ConsoleBot


async def test_a_silent_colleague_whose_day_ended_does_not_threaten_the_promise(
    bot: ConsoleBot,
) -> None:
    # Mon 09:00 London is 18:00 in Tokyo: Kenji's next day runs Tue 00:00-08:00 London time,
    # and the deadline (Tue 12:00 London) falls after it, still three hours before the promise.
    await bot.say("/case open Acme: refund missing promise tomorrow 15:00")
    await bot.say("/case ask C-1 @kenji where is the refund? by 2026-11-24T12:00:00+00:00")
    out = await bot.say("/clock tomorrow 06:05")  # at risk: three quarters of Kenji's day
    assert "R-1 is at risk" in bot.to("kenji", out)  # his reminder
    told = bot.to("alex", out)
    assert "is at risk" not in told  # nothing says the promise cannot be kept
    assert "Move the promise" not in told
    assert "The earliest you can still keep it" not in told
    out = await bot.say("/case answer R-1 refunded", as_="kenji")
    out = await bot.say("/clock 13:30")
    assert "Promise at risk" not in out


async def test_a_silent_colleague_past_the_deadline_still_threatens_the_promise(
    bot: ConsoleBot,
) -> None:
    await bot.say("/case open Acme: refund missing promise tomorrow 15:00")
    await bot.say("/case ask C-1 @kenji where is the refund? by 2026-11-24T12:00:00+00:00")
    out = await bot.say("/clock tomorrow 14:01")  # the deadline passed, no answer
    warning = bot.to("alex", out)
    assert "Promise at risk on C-1" in warning
    assert "Move the promise to Wed 25 Nov" in warning  # Kenji's next day, then Alex's hour
