"""Asking for more time: where the time ends and the reason begins, whatever the reason's first
word (a reason may start with "the" or "in", which a time may contain but never ends with)."""

from __future__ import annotations

import pytest

from bot.deadlines import looks_like_deadline
from tests.conftest import ConsoleBot


@pytest.mark.parametrize("text", ["fri 3pm the", "tomorrow 17:00 in", "eod and"])
def test_a_time_does_not_end_in_a_filler_word(text: str) -> None:
    assert not looks_like_deadline(text)


async def test_a_reason_starting_with_a_filler_word_is_the_reason(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund missing promise fri 17:00")
    await bot.say("/case ask C-1 @dana where is the refund? by tomorrow 12:00")
    out = await bot.say("/case more-time R-1 wed 15:00 the bank is slow", as_="dana")
    assert "Asked @alex to move R-1 to Wed 25 Nov 15:00 GMT" in out
    assert "the bank is slow" in bot.to("alex", out)
    out = await bot.say("/case more-time R-1 thu 11:00 in case the bank is slow", as_="dana")
    assert "Asked @alex to move R-1 to Thu 26 Nov 11:00 GMT" in out
    assert "in case the bank is slow" in bot.to("alex", out)
