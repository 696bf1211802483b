"""Teams card buttons, private replies, uninstalling, and the endpoint's loopback rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request
from sqlmodel import select

from bot.commands import grammar as c
from bot.messages import Action, Mention, Message
from handlers.teams import buttons
from handlers.teams import render as render_teams
from storage.states import Platform, RequestStatus
from storage.tables import Case, ConversationRef, Request
from tests.teams_support import ALEX, BO, DANA, GENERAL, personal_conversation, teams_world

THREAD = f"{GENERAL};messageid=1700000000007"


def _card_of(body: dict[str, Any]) -> dict[str, Any]:
    return {"attachments": [{"content": body["value"]}]}


async def test_more_time_redirect_and_accept_from_cards(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        for m in (ALEX, DANA, BO):
            await w.post(w.install(m))
        await w.post(w.channel(ALEX, "case open Acme: refund p3", root="1700000000007"))
        await w.post(
            w.channel(ALEX, "ask @dana refund done? by tomorrow 12:00", root="1700000000007")
        )
        await w.settle()

        # Dana asks for more time from the card; Alex accepts from the card in the case thread.
        status, body = await w.post(
            w.invoke(
                DANA,
                {
                    "ownit": "more_time",
                    "key": "R-1",
                    "value": "",
                    "more_time.when": "wed 12:00",
                    "more_time.reason": "the bank is slow",
                },
            )
        )
        assert status == 200
        assert "Asked" in w.fake.text_of(_card_of(body))
        await w.settle()
        asked = await w.fake.wait_for("asks to move R-1", THREAD)
        accept = next(
            a for a in asked["attachments"][0]["content"]["actions"] if a.get("verb") == "accept"
        )
        status, body = await w.post(w.invoke(ALEX, accept["data"], conversation=THREAD))
        assert "R-1 is now due Wed 25 Nov 12:00" in w.fake.text_of(_card_of(body))

        # Dana hands it on to Bo with a reason; Bo is told in their personal chat.
        status, body = await w.post(
            w.invoke(
                DANA,
                {
                    "ownit": "redirect",
                    "key": "R-1",
                    "value": "",
                    "redirect.to": "bo",
                    "redirect.reason": "Bo runs refunds",
                },
            )
        )
        assert "handed on to" in w.fake.text_of(_card_of(body))
        await w.settle()
        await w.fake.wait_for("handed you R-1", personal_conversation(BO))

        # A button for a request Dana no longer holds: a short message, the card stays.
        status, body = await w.post(w.invoke(DANA, {"ownit": "ack", "key": "R-1", "value": ""}))
        assert body["type"] == "application/vnd.microsoft.activity.message"
        assert "only they can" in body["value"]


async def test_message_back_submit_updates_the_card(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        await w.post(w.install(DANA))
        await w.post(w.personal(ALEX, "case open Acme: refund p3"))
        await w.post(w.personal(ALEX, "case ask C-1 @dana refund done?"))
        await w.settle()
        act = w.personal(DANA, "")
        act.update(value={"ownit": "ack", "key": "R-1", "value": ""}, replyToId="m-card-1")
        act.pop("text")
        assert (await w.post(act))[0] == 201
        (update,) = w.fake.updates()
        assert update.activity_id == "m-card-1"
        assert "You acknowledged R-1" in w.fake.text_of(update.body)
        async with w.app.db.reader() as s:
            assert (await s.exec(select(Request))).one().status == RequestStatus.ACKNOWLEDGED


async def test_private_replies_in_a_channel_go_to_the_personal_chat(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        await w.post(w.install(ALEX))
        await w.post(w.channel(ALEX, "case resolve C-99", root="1700000000009"))
        thread = f"{GENERAL};messageid=1700000000009"
        assert w.fake.posts(thread) == []
        assert any("C-99" in t for t in w.fake.texts(personal_conversation(ALEX)))


async def test_uninstalled_colleague_is_reported(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        await w.post(w.install(ALEX))
        await w.post(w.install(DANA))
        await w.post(w.install(DANA, action="remove"))
        async with w.app.db.reader() as s:
            owners = {r.person_id for r in (await s.exec(select(ConversationRef))).all()}
        assert len(owners) == 1
        await w.post(w.personal(ALEX, "case open Acme: refund p3"))
        await w.post(w.personal(ALEX, "case ask C-1 @dana refund done?"))
        await w.settle()
        await w.fake.wait_for("could not reach Dana Billing", personal_conversation(ALEX))


async def test_without_an_app_id_only_loopback_is_served(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        transport = mock.Mock()
        transport.get_extra_info.side_effect = lambda name, default=None: (
            ("203.0.113.9", 40000) if name == "peername" else default
        )
        request = make_mocked_request(
            "POST",
            "/api/messages",
            headers={"Content-Type": "application/json"},
            transport=transport,
        )
        response = await w.teams.handle(request)
        assert response.status == 403
        assert w.fake.calls == []


def test_buttons_become_commands() -> None:
    cmd = buttons.command_for
    assert cmd({"ownit": "ack", "key": "R-3"}) == c.Ack("R-3", None)
    assert cmd({"ownit": "answer", "key": "R-3", "answer.text": "Yes\nfixed"}) == (
        c.Answer("R-3", "Yes\nfixed")
    )
    assert cmd(
        {"ownit": "redirect", "key": "R-3", "redirect.to": "bo x", "redirect.reason": "r"}
    ) == c.Redirect("R-3", c.Ref("name", "bo"), "r")
    assert cmd({"ownit": "ack", "key": "R-3; drop"}) is None
    assert cmd({"ownit": "nope", "key": "R-3"}) is None
    assert cmd({"ownit": "shorten", "key": "R-3", "value": "2026-11-24T10:00:00+00:00"}) == (
        c.Deadline("R-3", at=datetime(2026, 11, 24, 10, tzinfo=UTC))
    )
    assert cmd(
        {"ownit": "more_time", "key": "R-3", "more_time.when": "wed 12:00", "more_time.reason": "x"}
    ) == c.MoreTime("R-3", "wed 12:00", "x")
    assert cmd({"ownit": "rate", "key": "C-2", "rate.score": "4"}) == c.Rate("C-2", 4, None)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"ownit": "ack", "key": "C-3"}, "needs a request key like R-7, not `C-3`"),
        ({"ownit": "answer", "key": "R-3", "answer.text": " "}, "Write your answer"),
        ({"ownit": "more_time", "key": "R-3", "more_time.reason": "x"}, "Say until when"),
        (
            {
                "ownit": "more_time",
                "key": "R-3",
                "more_time.when": "soonish",
                "more_time.reason": "x",
            },
            "I can't read a time in `soonish`",
        ),
        ({"ownit": "redirect", "key": "R-3", "redirect.to": "bo"}, "Say why you are redirecting"),
        ({"ownit": "redirect", "key": "R-3", "redirect.to": "@here"}, "whole channel"),
        ({"ownit": "rate", "key": "C-3", "rate.score": "9"}, "from 1 to 5, not `9`"),
        ({"ownit": "answer", "key": "R-3", "answer.text": "x" * 3001}, "too long (3001"),
    ],
)
def test_buttons_with_wrong_inputs_say_what_is_wrong(data: dict[str, Any], says: str) -> None:
    """The checks typed text gets from the grammar, with the same usage line."""
    with pytest.raises(c.UsageError) as raised:
        buttons.command_for(data)
    assert says in raised.value.message
    assert raised.value.usage == c.usage(buttons._BUTTONS[data["ownit"]][0])


def test_cards_keep_user_text_literal_and_mentions_clean() -> None:
    msg = Message(
        "x",
        ("**bold** <at>Boss</at>\n\nline [l](u)",),
        case="C-1",
        actions=(Action("answer", "R-1", "Answer"),),
    )
    card = render_teams.card(msg, to=Mention("eve", "Eve <at>*x*</at>", teams_id="aad-eve"))
    (entity,) = card["msteams"]["entities"]
    assert entity["text"] == "<at>Eve atx/at</at>"
    texts = [b["text"] for b in card["body"] if b["type"] == "TextBlock"]
    assert all("**" not in t and "[l]" not in t for t in texts)
    assert card["fallbackText"].startswith("\\*\\*bold\\*\\* &lt;at&gt;Boss&lt;/at&gt;")
    show = card["actions"][0]
    assert show["type"] == "Action.ShowCard"
    assert show["card"]["body"][0]["id"] == "answer.text"
    assert render_teams.escape_markdown("*a* <b>") == "\\*a\\* &lt;b&gt;"


def test_a_digest_chart_travels_as_an_inline_image() -> None:
    msg = Message(
        "digest",
        ("Digest for Billing",),
        extra={"chart": {"png_b64": "iVBORw0KGgo=", "filename": "w.png", "alt": "On time 90%"}},
    )
    act = render_teams.activity(msg)
    card, image = act.attachments
    assert image.content_type == "image/png"
    assert image.content_url == "data:image/png;base64,iVBORw0KGgo="
    assert "On time 90%" in str(card.content["body"])


async def test_a_case_thread_the_bot_left_falls_back_to_the_personal_chat(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        await w.post(w.install(ALEX))
        await w.post(w.install(DANA))
        await w.post(w.channel(ALEX, "case open Acme: refund p3", root="1700000000007"))
        await w.post(w.channel(ALEX, "ask @dana refund done?", root="1700000000007"))
        await w.settle()
        w.fake.gone.add(THREAD)
        await w.post(w.invoke(DANA, {"ownit": "answer", "key": "R-1", "answer.text": "done"}))
        await w.settle()
        await w.fake.wait_for("answered R-1", personal_conversation(ALEX))


async def test_case_open_alone_offers_a_form_and_the_form_opens_the_case(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        await w.post(w.channel(ALEX, "case open", root="1700000000007"))
        (form,) = w.fake.posts(THREAD)
        content = form["attachments"][0]["content"]
        assert [i["id"] for i in content["body"] if i["type"].startswith("Input.")] == [
            "open.customer",
            "open.summary",
            "open.promise",
            "open.priority",
        ]
        press = w.invoke(
            ALEX,
            {
                "ownit": "open",
                "open.customer": "Acme: Ltd",
                "open.summary": "invoice **7** is wrong",
                "open.promise": "tomorrow 17:00",
                "open.priority": "P2",
            },
            conversation=THREAD,
        )
        press["replyToId"] = "m-form"
        status, body = await w.post(press)
        assert status == 200
        shown = w.fake.text_of(_card_of(body))
        assert "C-1 opened for Acme: Ltd: invoice **7** is wrong" in shown
        assert "P2" in shown and "Tue 24 Nov 17:00" in shown
        async with w.app.db.reader() as s:
            case = (await s.exec(select(Case))).one()
        assert (case.platform, case.thread, case.message) == (Platform.TEAMS, THREAD, "m-form")
        _status, body = await w.post(
            w.invoke(ALEX, {"ownit": "open", "open.customer": "x"}, conversation=THREAD)
        )
        assert body["type"] == "application/vnd.microsoft.activity.message"
