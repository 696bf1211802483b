"""Plain words and who-to-ask through Slack's real `/slack/events` endpoint with signed payloads:
the proposal is shown only to its author with Confirm and Edit; a click is a typed command, run
as the person who clicked, once; Edit opens the words in a form, run as typed when submitted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from storage.tables import Proposal, Request
from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack_api import (
    BOT_USER,
    Call,
    FakeSlack,
    Workspace,
    buttons,
    count,
    readable,
    start_ownit,
    text_of,
    uid,
)
from tests.test_assist_words import spoken

ASK = spoken(who="billing", text="was invoice 1043 charged twice?", when="tomorrow 12:00")
WORDS = "could you ask billing whether invoice 1043 was charged twice, I need it by noon tomorrow"


@pytest.fixture
async def ws(sqlite_url: str, fake: FakeSlack, fake_openai: FakeOpenAI) -> AsyncIterator[Workspace]:
    """ownit with Slack mounted and the model on (the fake server)."""
    workspace = await start_ownit(sqlite_url, fake, **fake_openai.env(OWNIT_AI_TIMEOUT="5"))
    try:
        yield workspace
    finally:
        await workspace.stop()


def shown(call: Call) -> str:
    return readable(text_of(call))


async def opened(ws: Workspace) -> tuple[str, str]:
    await ws.drive.command("alex", "open Acme: invoice 1043 charged twice promise wed 17:00")
    return await ws.case_thread()


def mention(who: str, text: str, channel: str, thread: str) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": uid(who),
        "text": f"<@{BOT_USER}> {text}",
        "channel": channel,
        "ts": "1790000600.000100",
        "thread_ts": thread,
    }


async def test_a_mention_in_words_is_proposed_then_run_once_by_its_author(
    ws: Workspace, fake_openai: FakeOpenAI
) -> None:
    channel, thread = await opened(ws)
    fake_openai.answer(ASK)
    event = mention("alex", WORDS + " for Acme", channel, thread)
    r = await ws.drive.event(event, event_id="EvWORDS")
    assert r.status == 200
    await ws.drive.event(event, event_id="EvWORDS", retry=1)  # Slack's retry: nothing more
    (proposal,) = await ws.fake.wait_for(
        "chat.postEphemeral", lambda c: "nothing happens until you confirm" in shown(c)
    )
    assert proposal.args["user"] == uid("alex")  # only its author sees it
    assert "/case ask C-1 @billing was invoice 1043 charged twice? by tomorrow 12:00" in shown(
        proposal
    )
    assert set(buttons(proposal)) == {"ownit_confirm", "ownit_edit"}
    sent = fake_openai.requests[-1].content("user")
    assert "C-1" in sent  # the thread's case, as context
    assert "Acme" not in sent and "for [CUSTOMER_1]" in sent  # the customer's name stays home
    await ws.app.inbox.settled()
    assert await count(ws, Request) == 0 and await count(ws, Proposal) == 1
    assert len(fake_openai.requests) == 1

    confirm = buttons(proposal)["ownit_confirm"]
    await ws.drive.click("jo", confirm, proposal)
    await ws.fake.wait_for("response_url", lambda c: "was not made to you" in shown(c))
    assert await count(ws, Request) == 0

    await ws.drive.click("alex", confirm, proposal)
    dm = await ws.fake.wait_for(
        "chat.postMessage", lambda c: "needs your help on C-1" in shown(c), channel="DUDANA"
    )
    assert "was invoice 1043 charged twice?" in shown(dm[0])
    await ws.drive.click("alex", confirm, proposal)
    await ws.fake.wait_for("response_url", lambda c: "already done" in shown(c))
    assert await count(ws, Request) == 1


async def test_edit_opens_the_words_and_runs_what_was_typed(
    ws: Workspace, fake_openai: FakeOpenAI
) -> None:
    await opened(ws)
    fake_openai.answer({**ASK, "case": "C-1"})
    await ws.drive.event(ws.drive.message("alex", WORDS, "DUALEX"))
    (proposal,) = await ws.fake.wait_for(
        "chat.postMessage", lambda c: "until you confirm" in shown(c), channel="DUALEX"
    )
    await ws.drive.click("jo", buttons(proposal)["ownit_edit"], proposal)
    await ws.fake.wait_for("response_url", lambda c: "is not yours" in shown(c))

    await ws.drive.click("alex", buttons(proposal)["ownit_edit"], proposal)
    (opening,) = await ws.fake.wait_for("views.open")
    view = opening.args["view"]
    field = view["blocks"][0]["element"]
    assert field["initial_value"].startswith("ask C-1 @billing was invoice 1043")
    bad = await ws.drive.submit("alex", view, {"command": "ask C-1 @dana"})
    assert "What do you want to ask?" in bad.json()["errors"]["command"]
    r = await ws.drive.submit(
        "alex", view, {"command": "/case ask C-1 @dana was it charged twice?"}
    )
    assert r.status == 200
    await ws.fake.wait_for(
        "chat.postMessage", lambda c: "was it charged twice?" in shown(c), channel="DUDANA"
    )
    assert await count(ws, Request) == 1 and await count(ws, Proposal) == 1


async def test_who_to_ask_by_slash_command_and_a_pick(
    ws: Workspace, fake_openai: FakeOpenAI
) -> None:
    await opened(ws)
    fake_openai.answer({"picks": [{"who": "billing", "reason": "They own invoices"}]})
    r = await ws.drive.command("alex", "ask C-1 was invoice 1043 charged twice?")
    assert "1. *Billing* — They own invoices" in r.text()
    pick = next(
        e
        for b in r.json()["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "ownit_confirm"
    )
    assert pick["text"]["text"] == "Ask Billing"
    await ws.drive.click("alex", pick, None)
    await ws.fake.wait_for(
        "chat.postMessage", lambda c: "for the Billing team" in shown(c), channel="DUBO"
    )
    assert await count(ws, Request) == 1


async def test_a_retry_after_the_words_were_handled_asks_the_model_nothing_more(
    ws: Workspace, fake_openai: FakeOpenAI
) -> None:
    """Slack retries an event ownit handled a moment ago (its inbox row gone): the retry is
    acknowledged and not handled again, so the model is not asked twice."""
    channel, thread = await opened(ws)
    fake_openai.answer(ASK)
    event = mention("alex", WORDS + " for Acme", channel, thread)
    assert (await ws.drive.event(event, event_id="EvLATE")).status == 200
    await ws.fake.wait_for(
        "chat.postEphemeral", lambda c: "nothing happens until you confirm" in shown(c)
    )
    await ws.app.inbox.settled()  # handled, and its row let go
    assert (await ws.drive.event(event, event_id="EvLATE", retry=1)).status == 200
    await ws.app.inbox.settled()
    assert len(fake_openai.requests) == 1
    assert await count(ws, Proposal) == 1
