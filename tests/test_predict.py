"""Breach prediction: an owner hears at once when the colleague's record says the deadline is
unlikely to be met, judged in the colleague's own business time."""

from __future__ import annotations

from datetime import timedelta

from bot.predict import Forecast, business_words
from tests.conftest import ConsoleBot


async def test_warns_when_the_record_is_poor(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: invoice wrong promise wed 17:00 p2", as_="alex")
    for i in range(1, 7):
        out = await bot.say(f"/case ask C-1 @dana Question {i}? by 10:00", as_="alex")
        assert "Careful" not in out  # no record yet
    await bot.say("/clock +30m")
    await bot.say("/case answer R-1 done", as_="dana")
    await bot.say("/case answer R-2 done", as_="dana")
    await bot.say("/clock 12:00")
    out = await bot.say("/case ask C-1 @dana One more? by 13:00", as_="alex")
    assert "R-7 asked of @dana" in out
    assert (
        "Careful: Dana Billing answered 2 of their last 6 questions within 1 business hour. "
        "R-7 is due in 1 business hour (their hours), so it may well be late." in out
    )
    assert "/case promise C-1 <when>" in out
    # a generous deadline is measured against the same record: all six fit in two days
    out = await bot.say("/case ask C-1 @dana And this? by thu 12:00", as_="alex")
    assert "Careful" not in out


async def test_no_warning_with_a_good_or_short_record(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: invoice wrong promise wed 17:00 p2", as_="alex")
    for i in range(1, 6):
        await bot.say(f"/case ask C-1 @bo Question {i}? by 11:00", as_="alex")
        await bot.say(f"/case answer R-{i} yes", as_="bo")
    await bot.say("/clock +1h")
    out = await bot.say("/case ask C-1 @bo Another? by 11:00", as_="alex")
    assert "Careful" not in out
    out = await bot.say("/case ask C-1 @billing Team question? by 11:00", as_="alex")
    assert "Careful" not in out


def test_sentence_and_likelihood() -> None:
    f = Forecast("Dana Billing", 3, 10, timedelta(hours=4), "billing")
    assert f.sentence() == (
        "Dana Billing answered 3 of their last 10 billing questions within 4 business hours."
    )
    assert f.unlikely and round(f.likelihood, 2) == 0.33
    assert not Forecast("Bo", 2, 4, timedelta(hours=4), None).unlikely  # too little history
    assert business_words(timedelta(minutes=90)) == "1h30m of business time"
    assert business_words(timedelta(minutes=45)) == "45 business minutes"
