"""The other Slack paths: modals for answer, redirect and rating; decline and shorten buttons;
answers in the case thread; commands in a DM; transfer; App Home for a manager."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.clock import SimClock
from storage.tables import Request
from tests.fakes.slack_api import (
    Call,
    Workspace,
    buttons,
    readable,
    shown,
    swept,
    uid,
    until,
)


async def dm_about(ws: Workspace, who: str, words: str) -> Call:
    calls = await ws.fake.wait_for(
        "chat.postMessage", lambda c: words in shown(c), channel="D" + uid(who)
    )
    return calls[-1]


async def channel_shows(ws: Workspace, channel: str, words: str) -> None:
    """A post or an update in the channel shows `words` (a post may come after the change)."""
    for _ in range(200):
        if any(
            c.method in ("chat.postMessage", "chat.update")
            and c.args.get("channel") == channel
            and words in shown(c)
            for c in ws.fake.calls
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{channel} never showed {words!r}")


async def modal(ws: Workspace, count: int) -> dict[str, object]:
    return dict((await ws.fake.wait_for("views.open", count=count))[count - 1].args["view"])


async def test_modals_and_buttons(ws: Workspace) -> None:
    drive = ws.drive
    await drive.command("alex", "open Acme: invoice wrong promise tomorrow 17:00")
    channel, thread = await ws.case_thread()
    await drive.command("alex", f"ask C-1 <@{uid('dana')}|dana> Is invoice 7 wrong?")
    dm = await dm_about(ws, "dana", "needs your help")

    # Answer through the modal: the owner hears it, the request's post shows the answer
    await drive.click("dana", buttons(dm)["ownit_answer"], dm)
    view = await modal(ws, 1)
    assert view["callback_id"] == "ownit_answer"
    r = await drive.submit("dana", view, {"text": "Yes: line 3 doubled"})
    assert r.status == 200 and r.body == ""
    await dm_about(ws, "alex", "answered R-1")
    await channel_shows(ws, channel, "*Answer:* Yes: line 3 doubled")

    # Redirect through the modal: the new colleague gets it, the owner is told, a handoff
    await drive.command("alex", f"ask C-1 <@{uid('bo')}|bo> Refund status?")
    dm_bo = await dm_about(ws, "bo", "needs your help")
    await drive.click("bo", buttons(dm_bo)["ownit_redirect"], dm_bo)
    view = await modal(ws, 2)
    r = await drive.submit(
        "bo",
        view,
        {
            "person": {"type": "users_select", "selected_user": uid("dana")},
            "reason": "Dana issued it",
        },
    )
    assert r.status == 200
    await dm_about(ws, "dana", "handed you R-2")
    await dm_about(ws, "alex", "handed R-2 on")

    # Need more time, declined: the colleague hears it with the buttons again
    dm2 = await dm_about(ws, "dana", "handed you R-2")
    await drive.click("dana", buttons(dm2)["ownit_more_time"], dm2)
    view = await modal(ws, 3)
    bad = await drive.submit("dana", view, {"when": "someday", "reason": "busy"})
    assert bad.json()["response_action"] == "errors" and "when" in bad.json()["errors"]
    early = await drive.submit("dana", view, {"when": "tomorrow 15:00", "reason": "busy"})
    assert "ask for a later time" in early.json()["errors"]["when"]  # the form stays open
    await drive.submit("dana", view, {"when": "wed 15:00", "reason": "busy"})
    ask = await dm_about(ws, "alex", "asks to move R-2")
    await drive.click("alex", buttons(ask)["ownit_decline"], ask)
    declined = await dm_about(ws, "dana", "could not give more time")
    assert "ownit_answer" in buttons(declined)

    # A deadline after the promise: the owner is offered to shorten it, privately
    r = await drive.command("alex", f"ask C-1 <@{uid('bo')}|bo> Credit note? by wed 12:00")
    body = r.json()
    assert body["response_type"] == "ephemeral" and "Heads up" in readable(str(body))
    shorten = next(
        e
        for b in body["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "ownit_shorten"
    )
    await drive.click("alex", shorten, None)
    await ws.fake.wait_for("response_url", lambda c: "R-3 is now due" in shown(c))

    # The colleague asked replies in the case thread: that is the answer
    reply = drive.message("bo", "Credit note sent", channel, thread)
    await drive.event(reply)
    await dm_about(ws, "alex", "answered R-3")
    # someone else chatting in the thread is just conversation
    await drive.event(drive.message("jo", "thanks all", channel, thread))
    await ws.app.inbox.settled()
    async with ws.app.db.reader() as s:
        statuses = [(await s.get(Request, i)).status for i in (1, 2, 3)]  # type: ignore[union-attr]
    assert statuses == ["answered", "open", "answered"]

    # resolve, then record the customer's rating through the button and modal
    r = await drive.command("alex", "resolve C-1")
    rate = next(
        e
        for b in r.json()["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "ownit_rate"
    )
    await drive.click("alex", rate, None)
    view = await modal(ws, 4)
    await drive.submit(
        "alex",
        view,
        {
            "score": {"type": "static_select", "selected_option": {"value": "5"}},
            "comment": "happy",
        },
    )
    await ws.fake.wait_for("chat.postMessage", lambda c: "rated C-1 5/5" in shown(c))
    # (a modal has no response_url: its answer comes by DM)


async def test_dm_commands_transfer_and_manager_home(ws: Workspace) -> None:
    drive = ws.drive
    await drive.command("alex", "open Acme: invoice wrong promise tomorrow 17:00")
    await ws.case_thread()
    await drive.command("alex", f"ask C-1 <@{uid('dana')}|dana> Is it wrong? by tomorrow 12:00")
    await dm_about(ws, "dana", "needs your help")

    # a top-level DM to the bot is a command, answered in the DM
    await drive.event(drive.message("dana", "mine", "DUDANA"))
    mine = await dm_about(ws, "dana", "Asked of me")
    assert "R-1" in shown(mine)
    await drive.event(drive.message("dana", "frobnicate", "DUDANA"))
    await dm_about(ws, "dana", "I don't know `frobnicate`")

    # transfer: the new owner hears it, and the card shows them
    await drive.command("alex", "open Globex: login broken")
    await ws.case_thread(2)
    r = await drive.command("alex", f"transfer C-2 <@{uid('jo')}|jo> going on holiday")
    assert "now belongs to" in r.text()
    await dm_about(ws, "jo", "handed C-2")
    await channel_shows(ws, "CSUPPORT", f"*Owner* <@{uid('jo')}>")

    # the manager's App Home shows what of the team is at risk
    assert isinstance(ws.app.clock, SimClock)
    await ws.app.clock.advance(timedelta(hours=27))
    await ws.app.settle()
    await drive.event({"type": "app_home_opened", "user": uid("morgan"), "tab": "home"})
    home = (await ws.fake.wait_for("views.publish", user_id=uid("morgan")))[-1]
    assert "My team at risk" in shown(home) and "R-1" in shown(home)


async def test_card_names_a_team_and_says_when_it_has_no_members(ws: Workspace) -> None:
    drive = ws.drive
    await drive.command("alex", "open Acme: invoice wrong")
    channel, _ = await ws.case_thread()
    r = await drive.command("alex", "ask C-1 @billing Is it wrong? by tomorrow 12:00")
    assert "R-1" in r.text()
    await channel_shows(ws, channel, "the Billing team")
    for who in ("dana", "bo"):
        r = await drive.command("sam", f"admin member remove billing <@{uid(who)}|{who}>")
        assert "is no longer in @billing" in r.text()
    await drive.command("alex", f"ask C-1 <@{uid('jo')}|jo> And the total? by tomorrow 12:00")
    await channel_shows(ws, channel, "the Billing team (no members)")


async def test_card_refresh_reads_each_person_once(ws: Workspace) -> None:
    from dataclasses import replace

    from sqlalchemy import event

    from handlers.slack.cards import CaseMirror
    from storage.db import Database

    drive = ws.drive
    await drive.command("alex", "open Acme: invoice wrong")
    channel, _ = await ws.case_thread()
    for i in range(4):
        await drive.command(
            "alex", f"ask C-1 <@{uid('dana')}|dana> Question {i}? by tomorrow 12:00"
        )
    await channel_shows(ws, channel, "Question 3?")
    # A mirror on its own engine, so the background work of the app is not counted.
    db = Database(ws.app.settings.database_url)
    statements: list[str] = []

    def seen(_conn: object, _cur: object, statement: str, *_args: object) -> None:
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        await CaseMirror(replace(ws.app, db=db), ws.bot.client).refresh(1)
    finally:
        await db.dispose()
    assert len([s for s in statements if "FROM person" in s]) == 1, statements
    assert len([s for s in statements if 'FROM "case"' in s]) == 1, statements
    assert len(statements) <= 3, statements  # the case with its requests, the people, the policy


async def test_a_crowded_case_redraws_its_card_and_the_changed_post_only(ws: Workspace) -> None:
    """A case with more requests than its card holds: the card lists those due soonest and
    counts the rest; acknowledging one redraws its post and the card, and no other post."""
    drive = ws.drive
    await drive.command("alex", "open Acme: a long outage")
    channel, thread = await ws.case_thread()
    for i in range(22):
        await drive.command(
            "alex", f"ask C-1 <@{uid('dana')}|dana> Check system {i}? by {i % 5 + 2}h", answer=False
        )

    async def posted() -> bool:
        return len(ws.fake.of("chat.postMessage", channel=channel, thread_ts=thread)) >= 22

    await until(posted)
    await channel_shows(ws, channel, "and 2 more requests (2 open)")
    async with ws.app.db.reader() as s:
        post = (await s.get(Request, 7)).thread  # type: ignore[union-attr]
    before = len(ws.fake.of("chat.update", channel=channel))

    await drive.command("dana", "ack R-7 eta 1h")

    async def redrawn() -> bool:
        return len(ws.fake.of("chat.update", channel=channel)) - before >= 2

    await until(redrawn)
    await swept(ws, 1)  # a needless redraw would have been made by now
    updates = ws.fake.of("chat.update", channel=channel)[before:]
    assert sorted(str(c.args["ts"]) for c in updates) == sorted([thread, str(post)])
    assert "acknowledged, ETA" in shown(next(c for c in updates if c.args["ts"] == post))
