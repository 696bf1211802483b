"""The core story and rules, driven through the console as a user would type them."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.commands.grammar import Deadline
from bot.commands.service import Origin, run
from storage.states import Platform
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


async def test_a_shorten_button_sets_the_instant_it_offered(bot: ConsoleBot) -> None:
    """A button's time travels as a datetime (`Deadline.at`), never as words read back."""
    await bot.say("/case open Acme: refund promise 15:00")
    await bot.say("/case ask C-1 @dana refund status? by 14:30")
    alex = Origin(Platform.CONSOLE, "alex")
    shorter = Deadline("R-1", at=datetime(2026, 11, 23, 14, tzinfo=UTC))
    reply = await run(bot.app, shorter, alex)
    assert reply.ok and "R-1 is now due Mon 23 Nov 14:00 GMT." in reply.plain()
    past = Deadline("R-1", at=datetime(2026, 11, 23, 8, tzinfo=UTC))
    reply = await run(bot.app, past, alex)
    assert not reply.ok and "has already passed" in reply.plain()
