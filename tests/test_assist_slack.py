"""`/case update` through Slack's real endpoint with signed payloads, the model behind the real
openai client on the fake server: a private draft, escaped, with Edit, Copy and Log as sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import select

from storage.tables import Event
from tests.fakes.openai import FakeOpenAI
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

TIME = "Tue 24 Nov 17:00 GMT"
HOSTILE = (
    f"Hello [CUSTOMER_1], <!channel> @here <@U0ADMIN> billing is on it. "
    f"You will hear from me again by {TIME}. Alex"
)


@pytest.fixture
async def assisted(
    sqlite_url: str, fake: FakeSlack, fake_openai: FakeOpenAI
) -> AsyncIterator[Workspace]:
    ws = await start_ownit(sqlite_url, fake, **fake_openai.env())
    try:
        yield ws
    finally:
        await ws.stop()


async def updates_logged(ws: Workspace) -> list[str]:
    async with ws.app.db.reader() as s:
        found = await s.exec(select(Event).where(Event.kind == "customer_updated"))
        return [e.text for e in found.all()]


async def test_case_update_is_drafted_privately_and_logged(
    assisted: Workspace, fake: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    drive = assisted.drive
    opened = await drive.command("alex", "open Acme Corp: charged twice promise tomorrow 17:00")
    assert opened.status == 200
    fake_openai.answer({"message": HOSTILE})
    r = await drive.command("alex", "update C-1")
    drafts = [c for c in fake.of("response_url") if "Draft update" in text_of(c)]
    assert len(drafts) + (r.ack != "") == 1, "shown once: on the acknowledgement or after it"
    draft = Call("response_url", r.json(), 0)
    assert draft.args["response_type"] == "ephemeral", "only the owner sees it"
    raw = text_of(draft)
    assert "<!channel>" not in raw and "<@U0ADMIN>" not in raw
    assert "@here" not in raw, "defused with a zero-width space"
    shown = readable(raw).replace("\u200b", "")
    assert "Hello Acme Corp, <!channel> @here <@U0ADMIN> billing is on it." in shown
    assert f"You will hear from me again by {TIME}." in shown
    assert "Acme" not in fake_openai.requests[0].text
    found = buttons(draft)
    assert set(found) == {"ownit_edit_update", "ownit_copy_update", "ownit_log_update"}

    await drive.click("alex", found["ownit_copy_update"])
    copied = await fake.wait_for("response_url", lambda c: "to copy" in readable(text_of(c)))
    assert "billing is on it" in readable(text_of(copied[-1]))
    assert not buttons(copied[-1])

    await drive.click("alex", found["ownit_edit_update"])
    view = (await fake.wait_for("views.open"))[-1].args["view"]
    field = view["blocks"][0]["element"]
    assert "billing is on it" in field["initial_value"]
    edited = field["initial_value"].replace("billing is on it", "billing found the retry bug")
    await drive.submit("alex", view, {"text": edited})
    await until(lambda: _logged(assisted, "billing found the retry bug"))

    await drive.click("alex", found["ownit_log_update"])
    await until(lambda: _logged(assisted, "billing is on it"))
    assert len(await updates_logged(assisted)) == 2
    assert len(fake_openai.requests) == 1, "the buttons never ask the model"


async def _logged(ws: Workspace, words: str) -> bool:
    return any(words in text for text in await updates_logged(ws))


async def test_without_a_key_slack_gets_the_template_with_the_same_buttons(
    sqlite_url: str, fake: FakeSlack
) -> None:
    ws = await start_ownit(sqlite_url, fake, OPENAI_API_KEY="")
    try:
        await ws.drive.command("alex", "open Acme Corp: charged twice promise tomorrow 17:00")
        r = await ws.drive.command("alex", "update C-1")
        draft = Call("response_url", r.json(), 0)
        assert f"You will hear from me again by {TIME}." in r.text()
        assert "Drafted from the timeline" in r.text()
        assert set(buttons(draft)) == {"ownit_edit_update", "ownit_copy_update", "ownit_log_update"}
    finally:
        await ws.stop()


async def test_a_long_case_card_shows_its_summary_escaped(
    assisted: Workspace, fake: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    drive = assisted.drive
    await drive.command("alex", "open Acme Corp: charged twice promise tomorrow 17:00")
    channel, _ = await assisted.case_thread()
    fake_openai.hostile("<!channel> <@U0ADMIN> refund issued; ignore the card", times=5)
    for n in range(6):
        await drive.command("alex", f"updated C-1 call {n}")
    cards = await fake.wait_for(
        "chat.update", lambda c: "In short" in readable(text_of(c)), channel=channel
    )
    raw = text_of(cards[-1])
    assert "<!channel>" not in raw and "<@U0ADMIN>" not in raw
    assert "&lt;!channel&gt; &lt;@U0ADMIN&gt; refund issued" in raw
    assert len(fake_openai.requests) == 1, "one summary for the timeline as it is"


async def next_contact_of(ws: Workspace) -> str:
    """The time a draft of C-1 must name, as ownit computes it now."""
    from bot.cases import get_case
    from bot.drafts import update_facts

    now, rules = await ws.app.clock.now(), await ws.app.rules()
    async with ws.app.db.reader() as s:
        facts = await update_facts(s, case=await get_case(s, "C-1"), now=now, rules=rules)
    assert facts.next_contact is not None
    return facts.next_contact


async def test_the_at_risk_warnings_button_drafts_with_the_model(
    assisted: Workspace, fake: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    drive, app = assisted.drive, assisted.app
    await drive.command(
        "alex", "open Acme Corp: charged twice promise tomorrow 12:30"
    )  # tight: threatened
    await drive.command("alex", f"ask C-1 <@{uid('dana')}|dana> Charged twice? by tomorrow 12:00")
    await app.clock.advance(timedelta(hours=25))  # type: ignore[attr-defined]
    await app.settle()
    warning = (
        await fake.wait_for(
            "chat.postMessage", lambda c: "ownit_update" in buttons(c), channel="DUALEX"
        )
    )[-1]
    when = await next_contact_of(assisted)
    fake_openai.answer({"message": f"Hello [CUSTOMER_1], billing is still checking. By {when}."})
    await drive.click("alex", buttons(warning)["ownit_update"], warning)
    shown = await fake.wait_for("response_url", lambda c: "Drafted with AI" in text_of(c))
    assert f"Hello Acme Corp, billing is still checking. By {when}." in readable(text_of(shown[-1]))
    assert set(buttons(shown[-1])) == {"ownit_edit_update", "ownit_copy_update", "ownit_log_update"}


def test_a_long_draft_still_fits_its_buttons() -> None:
    from bot.messages import Action
    from handlers.slack import render as rs

    draft = "Grüße — " + "é\n" * 950
    value = rs.button(Action("log_update", "C-1", "Log as sent", draft))["value"]
    assert len(value) <= 2000
    key, carried = rs.read_button_value(value)
    assert key == "C-1" and draft.startswith(carried) and len(carried) > 300
