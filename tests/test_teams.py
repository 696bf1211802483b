"""Teams end to end: the real server, a fake Bot Connector, activities shaped like Teams' own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.clock import SimClock
from storage.states import Platform, RequestStatus
from storage.tables import Case, ConversationRef, Event, Outbox, Person, Request
from tests.teams_support import (
    ALEX,
    BOT,
    DANA,
    GENERAL,
    KENJI,
    MORGAN,
    RIVER,
    SAM,
    TeamsWorld,
    personal_conversation,
    teams_world,
)

THREAD = f"{GENERAL};messageid=1700000000001"
BOT_ID = BOT["id"]


def _card(activity: dict[str, Any]) -> dict[str, Any]:
    return activity["attachments"][0]["content"]


def _executes(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Action.Execute of a card, including those inside Action.ShowCard sub-cards."""
    found = []
    for action in card.get("actions") or []:
        if action["type"] == "Action.Execute":
            found.append(action)
        elif action["type"] == "Action.ShowCard":
            found += _executes(action["card"])
    return found


async def _open_case_in_channel(w: TeamsWorld) -> str:
    status, _ = await w.post(w.install(ALEX))
    assert status == 201
    status, _ = await w.post(w.install(DANA))
    assert status == 201
    status, _ = await w.post(
        w.channel(
            ALEX,
            "case open Acme Ltd: invoice charged twice promise tomorrow 17:00 p2",
            root="1700000000001",
        )
    )
    assert status == 201
    texts = w.fake.texts(THREAD)
    assert any("C-1 opened for Acme Ltd" in t for t in texts), texts
    return "C-1"


async def test_whole_story_in_a_channel_and_personal_chat(pg_url: str) -> None:
    async with teams_world(pg_url) as w:
        await _open_case_in_channel(w)
        welcome = w.fake.texts(personal_conversation(ALEX))
        assert welcome and "I'm ownit" in welcome[0]

        # In the case's reply chain, ask a colleague by @mentioning them; no case key needed.
        await w.post(
            w.channel(
                ALEX,
                "ask <at>Dana Billing</at> why was Acme charged twice? by today 15:00",
                root="1700000000001",
                mentions=(DANA,),
            )
        )
        assert any("R-1 asked of Dana Billing" in t for t in w.fake.texts(THREAD))
        async with w.app.db.reader() as s:
            dana = (await s.exec(select(Person).where(Person.handle == "dana"))).one()
            assert dana.teams_id == "aad-dana"  # linked to the org file's Dana by e-mail
            case = (await s.exec(select(Case))).one()
            assert (case.platform, case.thread) == (Platform.TEAMS, THREAD)

        # The request reaches Dana proactively, as a card with buttons.
        await w.settle()
        to_dana = w.fake.posts(personal_conversation(DANA))
        request_card = next(a for a in to_dana if "needs your help" in w.fake.text_of(a))
        verbs = {a["verb"] for a in _executes(_card(request_card))}
        assert {"ack", "answer", "more_time", "redirect"} <= verbs

        # Dana acknowledges with the button: the card is replaced in place.
        status, body = await w.post(w.invoke(DANA, {"ownit": "ack", "key": "R-1", "value": ""}))
        assert status == 200
        assert body["statusCode"] == 200
        assert body["type"] == "application/vnd.microsoft.card.adaptive"
        shown = w.fake.text_of({"attachments": [{"content": body["value"]}]})
        assert "You acknowledged R-1" in shown
        assert "why was Acme charged twice?" in shown  # the card keeps what it is about

        # The owner hears it in the case thread, mentioned.
        await w.settle()
        in_thread = w.fake.posts(THREAD)
        acked = next(a for a in in_thread if "acknowledged R-1" in w.fake.text_of(a))
        entities = _card(acked)["msteams"]["entities"]
        assert entities[0]["mentioned"]["id"] == "aad-alex"

        # Dana answers with the Answer button's text input.
        answer = w.invoke(
            DANA, {"ownit": "answer", "key": "R-1", "value": "", "answer.text": "Refund issued."}
        )
        status, body = await w.post(answer)
        assert status == 200 and body["type"].endswith("card.adaptive")
        # The same activity again (a Teams retry) changes nothing and gets the same card.
        status, again = await w.post(answer)
        assert again == body
        await w.settle()
        answered = [t for t in w.fake.texts(THREAD) if "answered R-1" in t]
        assert len(answered) == 1 and "Refund issued." in answered[0]
        async with w.app.db.reader() as s:
            req = (await s.exec(select(Request))).one()
            assert (req.status, req.answer) == (RequestStatus.ANSWERED, "Refund issued.")
            events = (await s.exec(select(Event).where(Event.kind == "answered"))).all()
            assert len(events) == 1

        # The case card at the head of the thread was kept in step, in place.
        async with w.app.db.reader() as s:
            card_id = (await s.exec(select(Case))).one().message
        card_updates = [u for u in w.fake.updates() if u.activity_id == card_id]
        assert card_updates and all(u.conversation == THREAD for u in card_updates)
        latest = w.fake.text_of(card_updates[-1].body)
        assert "R-1 → Dana Billing" in latest and "answer: Refund issued." in latest

        # Without an app id botbuilder sends no token to the connector (local use only).
        assert all("Authorization" not in c.headers for c in w.fake.calls)

        # Status in personal chat works with the same words.
        await w.post(w.personal(ALEX, "case status C-1"))
        assert any("Refund issued." in t for t in w.fake.texts(personal_conversation(ALEX)))


async def test_duplicate_message_opens_one_case(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        act = w.personal(ALEX, "case open Initech: printer on fire p1")
        assert (await w.post(act))[0] == 201
        assert (await w.post(act))[0] == 201
        async with w.app.db.reader() as s:
            assert len((await s.exec(select(Case))).all()) == 1
        replies = [t for t in w.fake.texts(personal_conversation(ALEX)) if "opened" in t]
        assert len(replies) == 1


async def test_user_text_is_shown_safely(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        await w.post(
            w.personal(ALEX, "case open **Evil** <at>Boss</at> [x](www.e.vil): <b>hi</b> p3")
        )
        reply = w.fake.posts(personal_conversation(ALEX))[-1]
        card = _card(reply)
        assert "msteams" not in card  # no mention entity was forged
        for block in card["body"]:
            if block["type"] == "TextBlock":  # markdown-rendering blocks hold only our own text
                assert "Evil" not in block["text"] and "<b>" not in block["text"]
        runs = [
            r["text"] for b in card["body"] if b["type"] == "RichTextBlock" for r in b["inlines"]
        ]
        assert any("**Evil** <at>Boss</at> [x](www.e.vil)" in r for r in runs), runs


async def test_unreachable_colleague_is_reported_then_caught_up(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        w.fake.not_installed.add(RIVER.id)
        await _open_case_in_channel(w)
        # River is seen only as a mention, and ownit is not installed for them.
        await w.post(
            w.channel(
                ALEX,
                "ask <at>River New</at> can you check the contract?",
                root="1700000000001",
                mentions=(RIVER,),
            )
        )
        await w.settle()
        told = [t for t in w.fake.texts(THREAD) if "could not reach River New" in t]
        assert told and "add the ownit app in Teams" in told[0], w.fake.texts(THREAD)
        assert "can you check the contract?" in told[0]
        # Kenji has no Teams or Slack id at all: the owner is told how to link him.
        await w.post(w.channel(ALEX, "ask @kenji is the API down?", root="1700000000001"))
        await w.settle()
        assert any("@ownit admin link @kenji" in t for t in w.fake.texts(THREAD))  # Teams words
        async with w.app.db.reader() as s:
            kinds = [e.kind for e in (await s.exec(select(Event))).all()]
            assert kinds.count("unreachable") == 2
        # When River installs the app, what they missed arrives.
        w.fake.not_installed.discard(RIVER.id)
        await w.post(w.install(RIVER))
        await w.settle()
        to_river = w.fake.texts(personal_conversation(RIVER))
        assert any("waited for you" in t for t in to_river)
        assert any("can you check the contract?" in t for t in to_river)


async def test_connector_429_and_503_are_retried(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        await w.post(w.install(ALEX))
        w.fake.fail_next(429, times=2, retry_after=0.01)
        w.fake.fail_next(503)
        await w.post(w.personal(ALEX, "case open Globex: late delivery p2"))
        posts = [c for c in w.fake.calls if c.conversation == personal_conversation(ALEX)]
        statuses = [c.status for c in posts if c.method == "POST"]
        assert statuses[-4:] == [429, 429, 503, 200]
        assert any("opened for Globex" in t for t in w.fake.texts(personal_conversation(ALEX)))


async def test_nudge_and_escalation_reach_people_proactively(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        await w.post(w.install(DANA))
        # Morgan (Dana's manager) installed ownit through Teams' conversationUpdate instead.
        update = w.install(MORGAN)
        update.update(type="conversationUpdate", membersAdded=[{"id": BOT_ID}])
        update.pop("action")
        await w.post(update)
        await w.post(w.personal(ALEX, "case open Acme: wrong invoice promise wed 17:00 p2"))
        await w.post(w.personal(ALEX, "case ask C-1 @dana refund status? by tomorrow 12:00"))
        await w.settle()
        clock = w.app.clock
        assert isinstance(clock, SimClock)
        await clock.advance(timedelta(hours=4))
        await w.settle()
        to_dana = w.fake.texts(personal_conversation(DANA))
        assert any(t.startswith("ownit · C-1 · R-1 Reminder:") for t in to_dana), to_dana
        await clock.advance(timedelta(days=1))
        await w.settle()
        to_morgan = w.fake.texts(personal_conversation(MORGAN))
        assert any("Escalation: Dana Billing has not answered R-1" in t for t in to_morgan)
        async with w.app.db.reader() as s:
            pending = (await s.exec(select(Outbox).where(col(Outbox.sent).is_(False)))).all()
            assert pending == []
            refs = (await s.exec(select(ConversationRef))).all()
            assert {r.conversation_id for r in refs} == {
                personal_conversation(m) for m in (DANA, MORGAN, ALEX)
            }


async def test_an_admin_links_a_teams_account(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        w.fake.members.pop(KENJI.id, None)  # no e-mail to match by: only the admin's link works
        await w.post(w.personal(SAM, f"case admin link @kenji teams {KENJI.aad}"))
        assert any("linked to teams" in t for t in w.fake.texts(personal_conversation(SAM)))
        await w.post(w.personal(KENJI, "case mine"))
        async with w.app.db.reader() as s:
            kenji = (await s.exec(select(Person).where(Person.handle == "kenji"))).one()
            assert kenji.teams_id == KENJI.aad
            assert (
                len((await s.exec(select(Person).where(Person.teams_id == KENJI.aad))).all()) == 1
            )


@pytest.mark.parametrize("header", [None, "Bearer garbage", "Bearer a.b.c", "Basic Zm9vOmJhcg=="])
async def test_unauthenticated_requests_are_refused_with_an_app_id(
    sqlite_url: str, header: str | None
) -> None:
    async with teams_world(sqlite_url, app_id="00000000-0000-0000-0000-00000000abcd") as w:
        headers = {"Authorization": header} if header else {}
        status, _ = await w.post(w.personal(ALEX, "case open Acme: x"), headers)
        assert status == 401
        async with w.app.db.reader() as s:
            assert (await s.exec(select(Case))).all() == []
        assert w.fake.calls == []
