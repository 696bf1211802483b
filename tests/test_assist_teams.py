"""`case update` in Teams: the draft is a reply in the owner's personal chat, with Edit (the
draft in an input, sent back as edited), Copy (the draft alone) and Log as sent."""

from __future__ import annotations

from sqlmodel import select

from storage.tables import Event
from tests.fakes.openai import FakeOpenAI
from tests.teams_support import ALEX, personal_conversation, teams_world

TIME = "Tue 24 Nov 17:00 GMT"


async def test_a_drafted_update_edited_and_logged_from_the_card(
    sqlite_url: str, fake_openai: FakeOpenAI
) -> None:
    async with teams_world(sqlite_url, **fake_openai.env()) as w:
        await w.post(w.install(ALEX))
        await w.post(w.personal(ALEX, "case open Acme Corp: charged twice promise tomorrow 17:00"))
        await w.settle()
        fake_openai.answer(
            {
                "message": f"Hello [CUSTOMER_1], <at>Everyone</at> **billing is on it**. "
                f"You will hear from me again by {TIME}."
            }
        )
        await w.post(w.personal(ALEX, "case update C-1"))
        await w.settle()
        reply = await w.fake.wait_for("Drafted with AI", personal_conversation(ALEX))
        card = reply["attachments"][0]["content"]
        runs = [
            i["text"] for b in card["body"] if b["type"] == "RichTextBlock" for i in b["inlines"]
        ]
        assert any("<at>Everyone</at> **billing is on it**" in r for r in runs), "shown as typed"
        assert "mention" not in str(card.get("msteams", {}))
        actions = {a["title"]: a for a in card["actions"]}
        assert set(actions) == {"Edit", "Copy", "Log as sent"}
        copy = actions["Copy"]["card"]["body"][0]["inlines"][0]["text"]
        assert "Hello Acme Corp" in copy and TIME in copy
        field = actions["Edit"]["card"]["body"][0]
        assert field["value"] == copy
        send = actions["Edit"]["card"]["actions"][0]["data"]
        status, _ = await w.post(w.invoke(ALEX, {**send, "edit_update.text": "We found the bug."}))
        assert status == 200
        status, _ = await w.post(w.invoke(ALEX, actions["Log as sent"]["data"]))
        assert status == 200
        async with w.app.db.reader() as s:
            logged = (await s.exec(select(Event).where(Event.kind == "customer_updated"))).all()
        assert [e.text for e in logged] == [
            "Alex Advisor updated the customer: We found the bug.",
            f"Alex Advisor updated the customer: {copy}",
        ]
