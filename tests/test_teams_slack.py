"""One organisation on two platforms: Slack and Teams people ask each other, answers come home.

Slack through its fake Web API and signed requests, Teams through the fake Bot Connector; one
ownit server with both adapters mounted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlmodel import select

from handlers.teams.adapter import TEAMS_KEY, Teams
from storage.tables import Case, Person
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.slack_api import FakeSlack, Workspace, readable, start_ownit, text_of, uid
from tests.teams_support import DANA, RIVER, TeamsWorld, personal_conversation


@dataclass
class Both:
    slack: Workspace
    teams: TeamsWorld


@pytest.fixture
async def both(pg_url: str) -> AsyncIterator[Both]:
    slack_fake = await FakeSlack().start()
    connector = FakeBotConnector()
    for m in (DANA, RIVER):
        connector.add(m)
    await connector.start()
    ws = await start_ownit(pg_url, slack_fake, TEAMS_API_URL=connector.url)
    try:
        teams: Teams = ws.runner.app[TEAMS_KEY]
        site = next(iter(ws.runner.sites))
        server = site._server  # type: ignore[attr-defined]
        port = server.sockets[0].getsockname()[1]
        yield Both(ws, TeamsWorld(ws.app, teams, connector, f"http://127.0.0.1:{port}"))
    finally:
        await ws.stop()
        await slack_fake.close()
        await connector.stop()


async def test_slack_case_asks_a_teams_colleague_and_the_answer_comes_home(both: Both) -> None:
    slack, teams = both.slack, both.teams
    # River lives in Teams only (no Slack account): installing the app makes them @river.new.
    assert (await teams.post(teams.install(RIVER)))[0] == 201

    r = await slack.drive.command("alex", "open Acme: invoice 7 is wrong promise tomorrow 17:00 p2")
    assert r.status == 200
    card = (await slack.fake.wait_for("chat.postMessage", channel="CSUPPORT"))[-1]
    assert "C-1" in readable(text_of(card))
    r = await slack.drive.command("alex", "ask C-1 @river.new Is the refund out? by tomorrow 12:00")
    assert r.status == 200

    # The request reaches Bo in Teams, with buttons; Bo answers from the card.
    await teams.fake.wait_for("needs your help on C-1", personal_conversation(RIVER))
    status, body = await teams.post(
        teams.invoke(
            RIVER,
            {"ownit": "answer", "key": "R-1", "value": "", "answer.text": "Refund sent today"},
        )
    )
    assert status == 200 and body["type"].endswith("card.adaptive")

    # Alex hears it in Slack, and the case thread in Slack shows the answer.
    told = await slack.fake.wait_for(
        "chat.postMessage", lambda c: "answered R-1" in text_of(c), channel="D" + uid("alex")
    )
    assert "Refund sent today" in readable(text_of(told[0]))
    async with slack.app.db.reader() as s:
        case = await s.get(Case, 1)
        assert case is not None and case.platform == "slack"
    # The request's post in the Slack case thread is updated with the answer.
    await slack.fake.wait_for(
        "chat.update", lambda c: "Refund sent today" in readable(text_of(c)), channel="CSUPPORT"
    )


async def test_teams_case_asks_a_slack_colleague_and_the_answer_lands_in_the_teams_thread(
    both: Both,
) -> None:
    slack, teams = both.slack, both.teams
    # Jo lives in Slack (seen there once); Dana owns a case in a Teams channel, and is in Slack
    # too: news of a Teams case reaches her in Teams, where the case lives.
    assert (await slack.drive.command("jo", "mine")).status == 200
    assert (await slack.drive.command("dana", "mine")).status == 200
    await teams.post(teams.install(DANA))
    root = "1700000000042"
    thread = f"19:general@thread.tacv2;messageid={root}"
    await teams.post(teams.channel(DANA, "case open Globex: duplicate charge p2", root=root))
    await teams.fake.wait_for("C-1 opened for Globex", thread)
    await teams.post(
        teams.channel(DANA, "ask @jo did Globex pay twice? by tomorrow 12:00", root=root)
    )
    await teams.fake.wait_for("R-1 asked of", thread)

    # Jo gets the request as a Slack DM and answers with the slash command.
    await slack.fake.wait_for(
        "chat.postMessage",
        lambda c: "needs your help" in readable(text_of(c)),
        channel="D" + uid("jo"),
    )
    r = await slack.drive.command("jo", "answer R-1 Yes, twice; refund queued")
    assert r.status == 200

    # The answer lands in the Teams case thread, mentioning Dana.
    post = await teams.fake.wait_for("answered R-1", thread)
    assert "Yes, twice; refund queued" in teams.fake.text_of(post)
    mentioned = post["attachments"][0]["content"]["msteams"]["entities"][0]["mentioned"]
    assert mentioned["id"] == DANA.aad
    async with slack.app.db.reader() as s:
        jo = (await s.exec(select(Person).where(Person.handle == "jo"))).one()
        dana = (await s.exec(select(Person).where(Person.handle == "dana"))).one()
    assert jo.slack_id == uid("jo") and jo.teams_id is None
    assert (dana.slack_id, dana.teams_id) == (uid("dana"), DANA.aad)
