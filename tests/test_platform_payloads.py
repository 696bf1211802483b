"""Payloads as Slack and Microsoft publish them (tests/fixtures), replayed through ownit's real
endpoints: what a colleague sends counts in the shapes the platforms really use, and what ownit
sends back reads right where it lands."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from sqlmodel import select

from storage.states import RequestStatus
from storage.tables import ConversationRef, InboxItem, Person, Request
from tests.fakes.slack_api import BOT_USER, TEAM, Call, Workspace, readable, text_of, uid, until
from tests.teams_support import (
    ALEX,
    BOT,
    DANA,
    GENERAL,
    RIVER,
    TENANT,
    TeamsWorld,
    personal_conversation,
    teams_world,
)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    """A published payload, without the notes that say where its shape comes from."""
    data = json.loads((FIXTURES / name).read_text("utf-8"))
    assert data.pop("_source"), name
    data.pop("_note", None)
    return data


# --------------------------------------------------------------------------- Slack


def slack_event(
    ws: Workspace, name: str, who: str, channel: str, thread: str | None
) -> dict[str, Any]:
    """A Slack fixture addressed to this workspace: its team, a person, a channel and thread."""
    body = fixture(f"slack/{name}.json")
    n = ws.drive.n()
    body.update(team_id=TEAM, event_id=f"EvP{n:08d}")
    body["authorizations"] = [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]
    event = body["event"]
    event.update(channel=channel, ts=f"{1_790_200_000 + n}.000100")
    event["channel_type"] = "im" if channel.startswith("D") else "channel"
    if "user" in event:
        event["user"] = uid(who)
    if isinstance(event.get("message"), dict):
        event["message"]["user"] = uid(who)
        if thread:
            event["message"]["thread_ts"] = thread
    if thread and event.get("subtype") != "message_changed":
        event["thread_ts"] = thread
    return body


async def replay(ws: Workspace, body: dict[str, Any]) -> None:
    """Post a Slack event signed as Slack signs it; Slack is answered at once (200)."""
    r = await ws.drive.post(json.dumps(body), "application/json")
    assert r.status == 200, r.body


async def told(ws: Workspace, who: str, words: str) -> Call:
    calls = await ws.fake.wait_for(
        "chat.postMessage", lambda c: words in readable(text_of(c)), channel="D" + uid(who)
    )
    return calls[-1]


async def request_of(ws: Workspace, request_id: int) -> Request:
    async with ws.app.db.reader() as s:
        req = await s.get(Request, request_id)
    assert req is not None
    return req


async def ask_in_a_case(ws: Workspace, who: str) -> tuple[str, str]:
    """Alex opens a case and asks `who`; the case thread (channel, ts) is where they may answer."""
    drive = ws.drive
    assert (await drive.command("alex", "open Acme: invoice 7 is wrong p2")).status == 200
    channel, thread = await ws.case_thread()
    r = await drive.command("alex", f"ask C-1 <@{uid(who)}|{who}> Is invoice 7 wrong?")
    assert r.status == 200
    await told(ws, who, "needs your help")
    return channel, thread


async def test_an_answer_also_sent_to_the_channel_counts(ws: Workspace) -> None:
    channel, thread = await ask_in_a_case(ws, "dana")
    body = slack_event(ws, "message_thread_broadcast", "dana", channel, thread)
    body["event"]["text"] = "Yes, it charged twice; refunded"
    await replay(ws, body)
    notice = await told(ws, "alex", "answered R-1")
    assert "refunded" in readable(text_of(notice))
    req = await request_of(ws, 1)
    assert req.status == RequestStatus.ANSWERED and req.answer == "Yes, it charged twice; refunded"


async def test_an_answer_with_a_file_counts_and_links_the_file(ws: Workspace) -> None:
    await ask_in_a_case(ws, "dana")

    async def dm_recorded() -> bool:
        return (await request_of(ws, 1)).dm_message is not None

    await until(dm_recorded, within=5)
    req = await request_of(ws, 1)
    assert req.dm_channel is not None
    body = slack_event(ws, "message_file_share", "dana", req.dm_channel, req.dm_message)
    body["event"]["text"] = "Here is the credit note"
    await replay(ws, body)
    notice = await told(ws, "alex", "answered R-1")
    assert "Here is the credit note" in readable(text_of(notice))
    req = await request_of(ws, 1)
    assert req.status == RequestStatus.ANSWERED
    assert req.answer == (
        "Here is the credit note\nfile.png (https://xxx.slack.com/files/U111/F111/file.png)"
    )


async def test_edits_deletions_bots_and_joins_are_no_answers(ws: Workspace) -> None:
    channel, thread = await ask_in_a_case(ws, "dana")
    for name in (
        "message_changed",
        "message_deleted",
        "message_bot_message",
        "message_channel_join",
    ):
        await replay(ws, slack_event(ws, name, "dana", channel, thread))
    # Each was answered and none was kept: the inbox is empty once what came before is handled.
    await ws.app.inbox.settled()
    async with ws.app.db.reader() as s:
        assert (await s.exec(select(InboxItem))).all() == []
    assert (await request_of(ws, 1)).status == RequestStatus.OPEN
    # A plain reply after them is still the answer, and the only one.
    await ws.drive.event(ws.drive.message("dana", "It was wrong", channel, thread))
    await told(ws, "alex", "answered R-1")
    assert (await request_of(ws, 1)).answer == "It was wrong"


# --------------------------------------------------------------------------- Teams


def teams_activity(
    w: TeamsWorld, name: str, member: Any, conversation: str | None = None
) -> dict[str, Any]:
    """A Teams fixture sent by `member` to this world's bot, in `conversation` (their personal
    chat unless given); the shape of the conversation and channelData is the fixture's own."""
    act = fixture(f"teams/{name}.json")
    act.update(
        id=w.next_id(), serviceUrl=w.fake.url, recipient=dict(BOT), **{"from": member.account()}
    )
    act["conversation"]["id"] = conversation or personal_conversation(member)
    if "tenantId" in act["conversation"]:
        act["conversation"]["tenantId"] = TENANT
    act["channelData"]["tenant"] = {"id": TENANT}
    if act.get("membersAdded"):
        act["membersAdded"] = [dict(BOT), member.account()]
    for entity in act.get("entities") or []:
        if entity.get("type") == "mention":
            entity["mentioned"] = dict(BOT)
            entity["text"] = f"<at>{BOT['name']}</at>"
    return act


def channel_message(w: TeamsWorld, member: Any, text: str, root: str) -> dict[str, Any]:
    act = teams_activity(w, "channel_message_without_type", member, f"{GENERAL};messageid={root}")
    act["text"] = f"<at>{BOT['name']}</at> {text}"
    act["channelData"].update(teamsChannelId=GENERAL, channel={"id": GENERAL})
    return act


def personal(w: TeamsWorld, member: Any, text: str) -> dict[str, Any]:
    act = teams_activity(w, "personal_message", member)
    act["text"] = text
    return act


def welcomes(w: TeamsWorld, member: Any) -> list[str]:
    return [t for t in w.fake.texts(personal_conversation(member)) if "I'm ownit" in t]


async def reference(w: TeamsWorld, handle: str) -> ConversationRef:
    async with w.app.db.reader() as s:
        rows = (await s.exec(select(ConversationRef))).all()
        person = (await s.exec(select(Person).where(Person.handle == handle))).one()
    (row,) = [r for r in rows if r.person_id == person.id]
    return row


async def test_a_channel_message_without_its_type_is_not_a_personal_chat(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        await w.post(teams_activity(w, "installation_update_personal_add", ALEX))
        await w.post(teams_activity(w, "installation_update_personal_add", DANA))
        thread = f"{GENERAL};messageid=1700000000042"
        # A refusal is private: it goes to Alex's personal chat, not into the channel's thread.
        await w.post(channel_message(w, ALEX, "resolve C-99", root="1700000000042"))
        assert w.fake.posts(thread) == []
        assert any("C-99" in t for t in w.fake.texts(personal_conversation(ALEX)))
        ref = await reference(w, "alex")
        assert ref.conversation_id == personal_conversation(ALEX)
        assert ref.reference["conversation"]["id"] == personal_conversation(ALEX)
        # Later private notices still reach the personal chat.
        await w.post(personal(w, ALEX, "case open Acme: refund p3"))
        await w.post(personal(w, ALEX, "case ask C-1 @dana refund done?"))
        await w.post(personal(w, DANA, "answer R-1 refunded on Friday"))
        await w.settle()
        await w.fake.wait_for("answered R-1", personal_conversation(ALEX))
        assert not any("answered R-1" in t for t in w.fake.texts(thread))


async def test_a_team_install_without_its_type_greets_nobody(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        act = teams_activity(w, "installation_update_team_add", ALEX, GENERAL)
        status, _ = await w.post(act)
        assert status == 201
        async with w.app.db.reader() as s:
            assert (await s.exec(select(ConversationRef))).all() == []
        assert w.fake.posts() == []


async def test_one_install_announced_twice_greets_once(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        update = teams_activity(w, "conversation_update_personal_install", DANA)
        install = teams_activity(w, "installation_update_personal_add", DANA)
        # Teams sends both at once; two workers may handle them side by side.
        await asyncio.gather(w.post(update, settle=False), w.post(install, settle=False))
        await w.app.inbox.settled()
        assert len(welcomes(w, DANA)) == 1
        # Removed and installed again: that is a new install, greeted again (once).
        await w.post(
            teams_activity(w, "installation_update_personal_add", DANA) | {"action": "remove"}
        )
        await w.post(teams_activity(w, "installation_update_personal_add", DANA))
        await w.post(teams_activity(w, "conversation_update_personal_install", DANA))
        assert len(welcomes(w, DANA)) == 2


_SLASH = re.compile(r"/case\b")


async def test_teams_users_are_told_the_words_to_send(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        await w.post(teams_activity(w, "installation_update_personal_add", ALEX))
        await w.post(personal(w, ALEX, "help"))
        await w.post(personal(w, ALEX, "frobnicate"))
        chat = w.fake.texts(personal_conversation(ALEX))
        assert not any(_SLASH.search(t) for t in chat), chat
        assert any("ack <request> [eta <when>]" in t for t in chat), chat
        assert any("Try `help`." in t for t in chat), chat
        # In a channel the bot hears only what mentions it: River (no personal chat) is told so.
        thread = f"{GENERAL};messageid=1700000000043"
        await w.post(channel_message(w, RIVER, "frobnicate", root="1700000000043"))
        said = w.fake.texts(thread)
        assert any("Try `@ownit help`." in t for t in said), said
        assert not any(_SLASH.search(t) for t in said), said


def actions_of(body: dict[str, Any]) -> list[str]:
    """The verbs of a replacement card's buttons (inside their show-cards too)."""
    card = body["value"]
    verbs = []
    for action in card.get("actions") or []:
        if action["type"] == "Action.ShowCard":
            action = action["card"]["actions"][0]
        verbs.append(action["verb"])
    return verbs


async def test_a_request_card_keeps_its_buttons_while_the_request_is_open(
    sqlite_url: str,
) -> None:
    async with teams_world(sqlite_url) as w:
        for m in (ALEX, DANA):
            await w.post(teams_activity(w, "installation_update_personal_add", m))
        await w.post(personal(w, ALEX, "case open Acme: refund p3"))
        await w.post(personal(w, ALEX, "case ask C-1 @dana refund done? by tomorrow 12:00"))
        await w.settle()
        asked = {"ownit": "more_time", "key": "R-1", "value": ""}
        press = w.invoke(
            DANA, asked | {"more_time.when": "wed 12:00", "more_time.reason": "the bank is slow"}
        )
        status, body = await w.post(press)
        assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
        assert actions_of(body) == ["ack", "answer", "more_time", "redirect"]
        status, body = await w.post(w.invoke(DANA, {"ownit": "ack", "key": "R-1", "value": ""}))
        assert actions_of(body) == ["answer", "more_time"]
        answer = {"ownit": "answer", "key": "R-1", "value": "", "answer.text": "Refunded"}
        status, body = await w.post(w.invoke(DANA, answer))
        card = {"attachments": [{"content": body["value"]}]}
        assert "Alex Advisor has your answer to R-1" in w.fake.text_of(card)
        assert actions_of(body) == []
