"""The core story and rules, driven through the console as a user would type them."""

from __future__ import annotations

from tests.conftest import ConsoleBot


async def test_open_ask_answer_resolve(bot: ConsoleBot) -> None:
    out = await bot.say("/case open Acme: invoice wrong promise tomorrow 17:00 p2")
    assert "C-1 opened for Acme: invoice wrong" in out
    assert "Tue 24 Nov 17:00 GMT" in out
    out = await bot.say("/case ask C-1 @dana Is invoice 7 wrong? by tomorrow 12:00")
    assert "R-1 asked of @dana" in bot.to("alex", out)
    assert "needs your help on C-1" in bot.to("dana", out)
    out = await bot.say("/case answer R-1 Yes, we fixed it", as_="dana")
    assert "answered R-1" in bot.to("alex", out) and "Yes, we fixed it" in out
    out = await bot.say("/case resolve C-1", as_="alex")
    assert "resolved. Promise kept." in out
