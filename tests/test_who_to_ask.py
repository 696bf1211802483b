"""Who to ask: `/case ask C-1 <question>` naming nobody suggests up to three people or teams,
from who answered similar questions before and from the org file's topics; the owner picks one
(a proposal, confirmed). With a model, it only ranks and words the reasons for those candidates;
without it, or when it fails, the plain search's three are shown with computed reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import func, select

from storage.tables import Proposal, Request
from tests.conftest import ConsoleBot
from tests.fakes.openai import FakeOpenAI
from tests.test_assist_words import start_bot

QUESTION = "ask C-1 was invoice 1043 charged twice? by tomorrow 12:00"


async def history(bot: ConsoleBot) -> None:
    """Bo answered two questions about invoices charged twice; Kenji one about logging in."""
    await bot.say("/case open Acme: invoice 1043 charged twice promise fri 17:00", as_="alex")
    await bot.say("/case open Globex: billing questions", as_="jo")
    await bot.say("/case ask C-2 @bo Was invoice 1001 charged twice?", as_="jo")
    await bot.say("/case answer R-1 yes, refunded", as_="bo")
    await bot.say("/case ask C-2 @bo Invoice 1002 charged twice again?", as_="jo")
    await bot.say("/clock +1h")
    await bot.say("/case answer R-2 no, once", as_="bo")
    await bot.say("/case ask C-2 @kenji Is the login page down?", as_="jo")
    await bot.say("/case answer R-3 no", as_="kenji")
    bot.console.actor = "alex"


async def _ai(db_url: str, fake: FakeOpenAI, seconds: str) -> AsyncIterator[ConsoleBot]:
    app, bot = await start_bot(db_url, **fake.env(OWNIT_AI_TIMEOUT=seconds))
    try:
        await history(bot)
        yield bot
    finally:
        await app.close()


@pytest.fixture
async def ai(db_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[ConsoleBot]:
    async for bot in _ai(db_url, fake_openai, "5"):
        yield bot


@pytest.fixture
async def ai_quick(db_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[ConsoleBot]:
    """A one-second timeout, for a model that fails or hangs."""
    async for bot in _ai(db_url, fake_openai, "1"):
        yield bot


async def count(bot: ConsoleBot, table: type) -> int:
    async with bot.app.db.reader() as s:
        return int((await s.exec(select(func.count()).select_from(table))).one())


def plain_suggestions(out: str) -> None:
    """What the plain search suggests for QUESTION: Bo first, then the Billing team."""
    assert 'No one is named (I know nobody called "was"), so I read it all as the question.' in out
    assert "Who could answer it on C-1 — pick one to ask:" in out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if "1. @bo" in line)
    assert "answered 2 similar questions, last on Mon 23 Nov" in lines[first]
    assert "/case ask C-1 @bo was invoice 1043 charged twice? by tomorrow 12:00" in lines[first + 1]
    assert "2. Billing — topics: invoices" in out
    assert "kenji" not in out and "3." not in out
    assert "[Ask Bo Billing: /case confirm 1]" in out and "[Ask Billing: /case confirm 2]" in out


async def test_history_and_topics_suggest_and_the_pick_asks(bot: ConsoleBot) -> None:
    await history(bot)
    out = await bot.say(QUESTION)
    plain_suggestions(out)
    assert await count(bot, Request) == 3  # nothing asked yet

    picked = await bot.say("/case confirm 1")
    assert "R-4 asked of @bo: was invoice 1043 charged twice? — due Tue 24 Nov 12:00" in picked
    assert "needs your help on C-1" in bot.to("bo", picked)
    assert "already done" in await bot.say("/case confirm 1")
    assert "was not made to you" in await bot.say("/case confirm 2", as_="jo")
    assert await count(bot, Request) == 4


async def test_topics_alone_suggest_a_team(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: cannot log in")
    out = await bot.say("/case ask C-1 their login fails since this morning")
    assert "1. Engineering — topics: login" in out
    assert "/case ask C-1 @engineering their login fails since this morning" in out


async def test_nobody_found_says_so_and_writes_nothing(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: odd")
    out = await bot.say("/case ask C-1 whatever happened to the parrot")
    assert "I don't know anyone or any team called @whatever, and I found no one" in out
    assert "/case admin person add" in out and "/case ask <case>" in out
    assert await count(bot, Proposal) == 0


async def test_a_name_with_at_is_still_a_name(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: odd")
    out = await bot.say("/case ask C-1 @nobody is it charged twice?")
    assert "I don't know anyone or any team called @nobody" in out
    assert await count(bot, Proposal) == 0


async def test_only_the_owners_side_gets_suggestions(
    ai: ConsoleBot, fake_openai: FakeOpenAI
) -> None:
    out = await ai.say(QUESTION, as_="kenji")
    assert "There is no case C-1." in out
    assert fake_openai.requests == [] and await count(ai, Proposal) == 0


async def test_the_model_ranks_and_words_but_names_only_candidates(
    ai: ConsoleBot, fake_openai: FakeOpenAI
) -> None:
    fake_openai.answer(
        {
            "picks": [
                {"who": "mallory", "reason": "Knows everything"},
                {"who": "billing", "reason": "Owns invoices and payments"},
                {"who": "@bo", "reason": "Answered 2 of these on 3 Dec"},
            ]
        }
    )
    out = await ai.say(QUESTION)
    assert "mallory" not in out.lower()
    assert "1. Billing — Owns invoices and payments" in out
    assert "2. @bo — answered 2 similar questions, last on Mon 23 Nov" in out  # its own numbers
    sent = fake_openai.requests[-1].text
    assert "was invoice 1043 charged twice?" in sent  # the asker's own question
    assert "Invoice 1002" not in sent and "1001" not in sent  # never other cases' questions


@pytest.mark.parametrize("trouble", ["500", "slow", "malformed", "stranger"])
async def test_every_failure_gives_the_plain_suggestions(
    ai_quick: ConsoleBot, fake_openai: FakeOpenAI, trouble: str
) -> None:
    ai = ai_quick
    match trouble:
        case "500":
            fake_openai.fail(500, times=3)
        case "slow":
            fake_openai.slow(30)
        case "malformed":
            fake_openai.malformed()
        case "stranger":
            fake_openai.answer({"picks": [{"who": "mallory", "reason": "trust me"}]})
    plain_suggestions(await ai.say(QUESTION))


async def test_the_org_file_gives_topics_as_a_list_or_a_line(sqlite_url: str) -> None:
    from bot.directory import OrgFileError, apply_org, person_by_handle, team_by_key
    from storage.db import Database
    from storage.migrate import migrate

    db = Database(sqlite_url)
    await migrate(db)
    try:
        org = {
            "people": [{"handle": "dana", "name": "Dana", "topics": "Refunds,  credit notes"}],
            "teams": [{"key": "billing", "members": ["dana"], "topics": ["Invoices", "invoices"]}],
        }
        async with db.session() as s:
            await apply_org(s, org)
        async with db.reader() as s:
            dana = await person_by_handle(s, "dana")
            billing = await team_by_key(s, "billing")
        assert dana is not None and dana.topics == ["refunds", "credit notes"]
        assert billing is not None and billing.topics == ["invoices"]
        for bad in ({"billing": True}, [1, 2], ["x" * 61]):
            with pytest.raises(OrgFileError, match=r"people\[0\]\.topics"):
                async with db.session() as s:
                    await apply_org(s, {"people": [{"handle": "dana", "topics": bad}]})
    finally:
        await db.dispose()
