"""Summaries: a long case gets one paragraph in `/case status` and on its card, made after the
change and kept with the data, so a status never waits on a model; the manager digest gets three
sentences above its figures, which stay code's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.assist.summaries import LONG
from bot.commands import service
from handlers.slack import render as rs
from storage.states import Platform
from tests.conftest import ConsoleBot
from tests.fakes.openai import FakeOpenAI
from tests.test_assist_updates import console

PARAGRAPH = "Billing confirmed the double charge after a retry; the refund is issued."
WORDS = {
    "first": "Billing answered well inside its deadlines.",
    "second": "One request slipped past its deadline and was escalated.",
    "third": "Look at why acknowledgements come late after lunch.",
}


async def long_case(bot: ConsoleBot) -> None:
    """A case with a long timeline: asked, acknowledged, more time, accepted, answered…"""
    await bot.say("/case open Acme Corp: charged twice for invoice 1043 promise wed 17:00")
    await bot.say("/case ask C-1 @dana Was invoice 1043 charged twice? by tomorrow 12:00")
    await bot.say("/case ack R-1", as_="dana")
    await bot.say("/case more-time R-1 tomorrow 15:00 the bank is slow", as_="dana")
    await bot.say("/case accept R-1", as_="alex")
    await bot.say("/case answer R-1 Yes: a retry charged it twice; refund issued", as_="dana")
    await bot.say("/case updated C-1 Told them the refund is on its way", as_="alex")


@pytest.fixture
async def assisted(sqlite_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[ConsoleBot]:
    async with console(sqlite_url, **fake_openai.env(OWNIT_AI_TIMEOUT="1")) as bot:
        yield bot


async def status(bot: ConsoleBot, who: str = "alex") -> str:
    """`/case status C-1` as run on the platform's behalf: nothing settles after it."""
    reply = await service.handle(bot.app, "/case status C-1", service.Origin(Platform.CONSOLE, who))
    return reply.plain()


async def test_a_long_case_is_summed_up_once_and_shown(
    assisted: ConsoleBot, fake_openai: FakeOpenAI
) -> None:
    fake_openai.answer({"paragraph": PARAGRAPH}, times=10)
    await long_case(assisted)
    assert len(fake_openai.requests) == 1, "one summary, when the timeline grew long"
    sent = fake_openai.requests[0]
    assert "Acme" not in sent.text and "refund issued" in sent.content("user")
    shown = await status(assisted)
    assert f"In short (AI, from the timeline): {PARAGRAPH}" in shown
    await assisted.say("/case status C-1")
    assert len(fake_openai.requests) == 1, "a status asks no model, and the summary is current"
    assert PARAGRAPH not in await status(assisted, "dana"), "the asked colleague sees the header"


async def test_a_status_never_waits_on_the_model(
    assisted: ConsoleBot, fake_openai: FakeOpenAI
) -> None:
    fake_openai.answer({"paragraph": PARAGRAPH})
    await long_case(assisted)
    asked = len(fake_openai.requests)
    fake_openai.slow()
    reply = await service.handle(
        assisted.app, "/case updated C-1 Called them", service.Origin(Platform.CONSOLE, "alex")
    )
    assert reply.ok
    shown = await status(assisted)
    assert len(fake_openai.requests) == asked, "nothing asked on the way to a reply"
    assert "In short" not in shown, "the summary of an older timeline is not shown"
    await assisted.app.settle()  # after the reply: the model is asked, slowly, and gives up
    assert len(fake_openai.requests) == asked + 1
    assert "In short" not in await status(assisted)
    fake_openai.answer({"paragraph": "The customer was called after the refund."})
    await assisted.say("/case updated C-1 Called again")
    assert "The customer was called after the refund." in await status(assisted)


async def test_a_short_case_gets_no_summary(assisted: ConsoleBot, fake_openai: FakeOpenAI) -> None:
    await assisted.say("/case open Acme Corp: charged twice promise tomorrow 17:00")
    for n in range(LONG - 3):
        await assisted.say(f"/case updated C-1 call {n}")
    assert fake_openai.requests == []
    assert "In short" not in await status(assisted)


async def test_without_a_key_nothing_extra_is_shown(sqlite_url: str) -> None:
    async with console(sqlite_url) as bot:
        await long_case(bot)
        assert "In short" not in await status(bot)
        digest = await bot.say("/case digest", as_="sam")
        assert "In short" not in digest and "Digest for" in digest


async def test_a_summary_on_a_slack_card_is_escaped() -> None:
    card = rs.CaseCard(
        key="C-1",
        customer="Acme",
        summary="x",
        owner=rs.Mention("alex", "Alex"),
        priority="P3",
        status="open",
        promise_at=None,
        promise_text="",
        summed_up="<!channel> refund issued *now*",
    )
    text = str(rs.card_blocks(card))
    assert "In short (AI, from the timeline): &lt;!channel&gt; refund issued" in text


async def test_the_digest_gets_three_sentences_above_its_figures(
    assisted: ConsoleBot, fake_openai: FakeOpenAI
) -> None:
    await long_case(assisted)
    fake_openai.answer(WORDS)
    out = await assisted.say("/case digest", as_="sam")
    said = " ".join(WORDS.values())
    assert f"In short (AI, from the figures below): {said}" in out
    assert out.index(said) < out.index("New cases"), "above the figures"
    sent = fake_openai.requests[-1]
    assert "<period_data>" in sent.content("user") and "New cases" in sent.content("user")


async def test_digest_sentences_with_figures_are_refused(
    assisted: ConsoleBot, fake_openai: FakeOpenAI
) -> None:
    await long_case(assisted)
    fake_openai.answer({**WORDS, "second": "Only 42 % of answers came on time."})
    out = await assisted.say("/case digest", as_="sam")
    assert "In short" not in out and "42 %" not in out
    assert "New cases" in out


async def test_the_scheduled_digest_gets_them_too(
    assisted: ConsoleBot, fake_openai: FakeOpenAI
) -> None:
    await assisted.say("/case open Acme: invoice wrong promise wed 17:00 p2")
    await assisted.say("/case ask C-1 @dana Is invoice 7 wrong? by 11:00")
    await assisted.say("/clock tomorrow 09:00")
    fake_openai.answer(WORDS, times=3)
    start = len(assisted.lines)
    assert await assisted.app.digester().sweep() == 2  # Sam's and Morgan's
    await assisted.app.deliverer.drain()
    out = "\n".join(assisted.lines[start:])
    morgan = assisted.to("morgan", out)
    assert "Daily digest for Morgan Finance-Lead's people" in morgan
    assert f"In short (AI, from the figures below): {WORDS['first']}" in morgan
    assert "At risk or overdue now (1)" in morgan
    assert await assisted.app.digester().sweep() == 0, "still once per period"
