"""Plain words in Teams: a message to the bot gets a card with the proposed command, a Confirm
button (a typed command: only its author, once) and Edit (the card's input, run as typed)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from storage.tables import Request
from tests.fakes.openai import FakeOpenAI
from tests.teams_support import ALEX, DANA, TeamsWorld, personal_conversation, teams_world
from tests.test_assist_words import spoken

WORDS = "could you ask billing whether invoice 1043 was charged twice, by noon tomorrow"


def card_of(activity: dict[str, Any]) -> dict[str, Any]:
    return dict(activity["attachments"][0]["content"])


async def questions(w: TeamsWorld) -> list[str]:
    async with w.app.db.reader() as s:
        return list((await s.exec(select(col(Request.question)))).all())


async def test_plain_words_in_teams_are_proposed_confirmed_and_edited(
    sqlite_url: str, fake_openai: FakeOpenAI
) -> None:
    async with teams_world(sqlite_url, **fake_openai.env(OWNIT_AI_TIMEOUT="5")) as w:
        for member in (ALEX, DANA):
            await w.post(w.install(member))
        await w.post(w.personal(ALEX, "case open Acme: invoice 1043 charged twice"))
        fake_openai.answer(
            spoken(case="C-1", who="billing", text="was it charged twice?", when="tomorrow 12:00")
        )
        await w.post(w.personal(ALEX, WORDS))
        posted = await w.fake.wait_for("until you confirm", personal_conversation(ALEX))
        card = card_of(posted)
        shown = w.fake.text_of(posted)
        assert "ask C-1 @billing was it charged twice? by tomorrow 12:00" in shown
        confirm = next(a for a in card["actions"] if a["type"] == "Action.Execute")
        edit = next(a for a in card["actions"] if a["type"] == "Action.ShowCard")
        (field,) = edit["card"]["body"]
        assert field["id"] == "edit.command" and field["value"].startswith("/case ask C-1")
        assert await questions(w) == []

        status, _ = await w.post(w.invoke(DANA, confirm["data"]))
        assert status == 200 and await questions(w) == []  # not Dana's to run
        await w.post(w.invoke(ALEX, confirm["data"]))
        await w.post(w.invoke(ALEX, confirm["data"]))  # a second press: nothing more
        assert await questions(w) == ["was it charged twice?"]

        run = edit["card"]["actions"][0]
        typed = {**run["data"], "edit.command": "ask C-1 @dana is the refund out?"}
        await w.post(w.invoke(ALEX, typed))
        assert await questions(w) == ["was it charged twice?", "is the refund out?"]
