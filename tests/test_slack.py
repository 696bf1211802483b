"""The whole Slack story through ownit's real web server, signed requests and a fake Web API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.clock import SimClock
from storage.tables import Case, Request
from tests.fakes.slack_api import (
    Call,
    FakeSlack,
    Workspace,
    buttons,
    readable,
    start_ownit,
    text_of,
    uid,
    until,
)


@pytest.fixture
async def ws(db_url: str, fake: FakeSlack) -> AsyncIterator[Workspace]:
    ws = await start_ownit(db_url, fake)
    try:
        yield ws
    finally:
        await ws.stop()


async def open_case(
    ws: Workspace, text: str = "Acme: invoice 7 is wrong promise tomorrow 17:00 p2"
):
    r = await ws.drive.command("alex", f"open {text}")
    assert r.status == 200, r.body
    card = (await ws.fake.wait_for("chat.postMessage", channel="CSUPPORT"))[-1]
    return r, card


def ts_of(ws: Workspace, call: Call) -> str:  # the ts the fake gave a posted message
    for (channel, ts), args in ws.fake.messages.items():
        if args is call.args and channel == call.args["channel"]:
            return ts
    raise AssertionError("message not found")


async def requests(ws: Workspace) -> list[Request]:
    async with ws.app.db.reader() as s:
        return list((await s.exec(select(Request).order_by(col(Request.id)))).all())


async def the_case(ws: Workspace, case_id: int = 1) -> Case:
    """The case once its card is recorded (posting and recording are two steps)."""
    for _ in range(200):
        async with ws.app.db.reader() as s:
            case = await s.get(Case, case_id)
        if case is not None and case.thread and not case.thread.startswith("pending"):
            return case
        await asyncio.sleep(0.05)
    raise AssertionError(f"case {case_id} has no card")


async def test_whole_story(ws: Workspace) -> None:
    fake, drive = ws.fake, ws.drive

    # open → a card in the channel, its thread the case's home; the ack says nothing more
    r, card = await open_case(ws)
    assert r.seconds < 3
    assert "C-1 · Acme" in readable(text_of(card))
    case = await the_case(ws)
    card_ts = ts_of(ws, card)
    assert (case.platform, case.channel, case.thread, case.message) == (
        "slack",
        "CSUPPORT",
        card_ts,
        card_ts,
    )

    # @ownit ask inside the case thread: no key needed; posted in the thread, DM'd with buttons
    mention = {
        "type": "app_mention",
        "user": uid("alex"),
        "text": f"<@UBOT> ask <@{uid('dana')}> Is invoice 7 wrong? by tomorrow 12:00",
        "channel": "CSUPPORT",
        "ts": "1790000500.000100",
        "thread_ts": card_ts,
    }
    r = await drive.event(mention)
    assert r.status == 200 and r.seconds < 3
    post = (await fake.wait_for("chat.postMessage", channel="CSUPPORT", thread_ts=card_ts))[0]
    assert "R-1" in text_of(post) and f"<@{uid('dana')}>" in text_of(post)
    dm = (await fake.wait_for("chat.postMessage", channel="DUDANA"))[0]
    assert "needs your help on C-1" in readable(text_of(dm))
    assert set(buttons(dm)) == {"ownit_ack", "ownit_answer", "ownit_more_time", "ownit_redirect"}
    assert "https://acme.slack.com/archives/CSUPPORT/p" in text_of(dm)

    async def dm_recorded() -> bool:  # just after the DM is sent
        (req,) = await requests(ws)
        return req.dm_channel is not None

    await until(dm_recorded, within=5)
    (req,) = await requests(ws)
    assert (req.dm_channel, req.dm_message) == ("DUDANA", ts_of(ws, dm))

    # the Acknowledge button: acknowledged at once, the answer through response_url
    r = await drive.click("dana", buttons(dm)["ownit_ack"], dm)
    assert r.status == 200 and r.seconds < 3
    hook = (await fake.wait_for("response_url"))[-1]
    assert "You acknowledged R-1" in readable(text_of(hook))
    assert hook.args["response_type"] == "ephemeral"
    await fake.wait_for(
        "chat.postMessage", lambda c: "acknowledged R-1" in text_of(c), channel="DUALEX"
    )

    # a reply in the DM's thread is the answer; the owner is told at once
    reply = drive.message("dana", "Yes, we fixed it &amp; refunded", "DUDANA", ts_of(ws, dm))
    r = await drive.event(reply)
    assert r.status == 200
    told = await fake.wait_for(
        "chat.postMessage", lambda c: "answered R-1" in text_of(c), channel="DUALEX"
    )
    assert "Yes, we fixed it &amp; refunded" in text_of(told[0])
    (req,) = await requests(ws)
    assert req.status == "answered" and req.answer == "Yes, we fixed it & refunded"

    # need more time → the owner accepts; a deadline past the promise buffer is flagged
    r = await drive.command(
        "alex", f"ask C-1 <@{uid('bo')}|bo> Is the refund out? by tomorrow 10:00"
    )
    assert r.status == 200
    dm_bo = (await fake.wait_for("chat.postMessage", channel="DUBO"))[0]
    r = await drive.click("bo", buttons(dm_bo)["ownit_more_time"], dm_bo)
    assert r.status == 200
    opened = (await fake.wait_for("views.open"))[-1]
    view = opened.args["view"]
    assert view["callback_id"] == "ownit_more_time"
    r = await drive.submit("bo", view, {"when": "tomorrow 16:30", "reason": "waiting on the bank"})
    assert r.status == 200 and r.body == ""
    ask = (
        await fake.wait_for(
            "chat.postMessage", lambda c: "asks to move R-2" in text_of(c), channel="DUALEX"
        )
    )[0]
    assert "past what your promise" in readable(text_of(ask))
    r = await drive.click("alex", buttons(ask)["ownit_accept"], ask)
    assert r.status == 200
    hooks = await fake.wait_for("response_url", lambda c: "R-2 is now due" in text_of(c))
    assert "too close to your promise" in readable(text_of(hooks[0]))

    # the ladder on the simulated clock: nudge, at risk, overdue, each a DM to the right person
    await drive.command("alex", f"ask C-1 <@{uid('dana')}|dana> Credit note? by tomorrow 12:00")
    await fake.wait_for("chat.postMessage", lambda c: "R-3" in text_of(c), channel="DUDANA")
    assert isinstance(ws.app.clock, SimClock)
    await ws.app.clock.advance(timedelta(hours=27, minutes=1))
    await ws.app.settle()
    nudge = await fake.wait_for(
        "chat.postMessage", lambda c: "Reminder" in text_of(c) and "R-3" in text_of(c)
    )
    assert nudge[0].args["channel"] == "DUDANA" and "ownit_ack" in buttons(nudge[0])
    at_risk = await fake.wait_for(
        "chat.postMessage",
        lambda c: "R-3 on C-1" in readable(text_of(c)) and "at risk" in text_of(c),
    )
    assert at_risk[0].args["channel"] == "DUALEX"
    await fake.wait_for(
        "chat.postMessage", lambda c: "Escalation" in text_of(c), channel="DUMORGAN"
    )

    # App Home shows my cases
    await drive.event({"type": "app_home_opened", "user": uid("alex"), "tab": "home"})
    home = (await fake.wait_for("views.publish", user_id=uid("alex")))[-1]
    assert "C-1 · Acme" in readable(text_of(home))

    # resolve → the card is updated in place
    r = await drive.command("alex", "resolve C-1 all sorted")
    assert r.status == 200 and "resolved" in r.text()
    updated = await fake.wait_for(
        "chat.update", lambda c: "resolved" in text_of(c), channel="CSUPPORT", ts=card_ts
    )
    assert updated
    assert json.dumps(updated[-1].args).count("R-") >= 3
