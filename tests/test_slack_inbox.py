"""Acknowledge first: what Slack delivers is kept before it is acknowledged and handled after, by
the replica that took it or, if that one stops or dies first, by another."""

from __future__ import annotations

import asyncio
import urllib.parse
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import text, update
from sqlmodel import select

from bot.commands import service as dispatch
from handlers.slack import payloads as slack
from handlers.slack import receiving
from storage.tables import Case, InboxItem, Request
from tests.conftest import PG_HOST, PG_PORT
from tests.fakes.slack_api import (
    BOT_USER,
    FakeSlack,
    Workspace,
    count,
    readable,
    start_ownit,
    text_of,
    uid,
    until,
)
from tests.scale_support import Proxy

QUICK = {"OWNIT_INBOX_LEASE": "1.5"}  # leases lapse (and are looked at) within a second or two


async def inbox(ws: Workspace) -> list[InboxItem]:
    async with ws.app.db.reader() as s:
        return list((await s.exec(select(InboxItem).order_by(InboxItem.id))).all())  # type: ignore[arg-type]


async def test_kept_before_acknowledged_and_handed_over_on_a_clean_stop(
    db_url: str, fake: FakeSlack
) -> None:
    first = await start_ownit(db_url, fake, inbox_workers=0, **QUICK)  # acknowledges only
    second: Workspace | None = None
    try:
        r = await first.drive.command("alex", "open Acme: invoice 7 is wrong", answer=False)
        assert r.status == 200 and r.ack == "" and r.seconds < 3
        mention = first.drive.message("alex", f"<@{BOT_USER}> status C-1", "CSUPPORT")
        event = await first.drive.event({**mention, "type": "app_mention"}, event_id="EvKEPT")
        again = await first.drive.event(
            {**mention, "type": "app_mention"}, event_id="EvKEPT", retry=1
        )
        assert event.status == again.status == 200
        kept = await inbox(first)
        assert [(k.platform, k.kind) for k in kept] == [("slack", "command"), ("slack", "mention")]
        assert kept[0].payload["text"] == "open Acme: invoice 7 is wrong"
        assert await count(first, Case) == 0  # acknowledged, not handled yet

        second = await start_ownit(db_url, fake, **QUICK)
        await first.stop()  # a clean stop hands what it holds to the others at once

        async def opened() -> bool:
            return await count(second, Case) == 1 and not await inbox(second)

        await until(opened, within=10)
        channel, _thread = await second.case_thread()
        assert channel == "CSUPPORT"
        async with second.app.db.reader() as s:
            case = (await s.exec(select(Case))).one()
        assert case.customer == "Acme" and case.summary == "invoice 7 is wrong"
        answers = await fake.wait_for(
            "chat.postEphemeral", lambda c: "C-1" in text_of(c), user=uid("alex")
        )
        assert len(answers) == 1  # the mention's retry was not kept a second time
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


@pytest.mark.timing
async def test_a_clean_stop_is_prompt(db_url: str, fake: FakeSlack) -> None:
    """A replica told to stop (a rolling deploy) goes at once, not after its inbox's next look."""
    ws = await start_ownit(db_url, fake)
    r = await ws.drive.command("alex", "open Acme: invoice 7 is wrong", answer=False)
    assert r.status == 200
    await ws.case_thread()
    began = asyncio.get_running_loop().time()
    await ws.stop()
    assert asyncio.get_running_loop().time() - began < 1.0


async def test_what_a_dead_replica_acknowledged_is_taken_over(db_url: str, fake: FakeSlack) -> None:
    """A replica SIGKILLed after acknowledging leaves rows whose lease nobody renews: here the
    rows are left that way by hand (the three-replica test kills real processes)."""
    first = await start_ownit(db_url, fake, inbox_workers=0, **QUICK)
    second: Workspace | None = None
    try:
        r = await first.drive.command("alex", "open Acme: invoice 7 is wrong", answer=False)
        assert r.status == 200
        async with first.app.db.session() as s:
            await s.exec(
                update(InboxItem).values(  # type: ignore[call-overload]
                    taken_by="died", taken_until=datetime.now(UTC) - timedelta(seconds=1)
                )
            )
        second = await start_ownit(db_url, fake, **QUICK)

        async def handled() -> bool:
            return await count(second, Case) == 1 and not await inbox(second)

        await until(handled)
        assert second.app.metrics.inbox_taken_over._value.get() == 1
        await second.case_thread()  # the card was posted
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


FORM = "application/x-www-form-urlencoded"


def hook_of(body: str) -> str:
    return urllib.parse.parse_qs(body)["response_url"][0].rsplit("/", 1)[-1]


@pytest.mark.parametrize("window", [2.0, 0.0], ids=["in-time", "late"])
async def test_a_command_is_answered_once_on_its_acknowledgement_or_after_it(
    db_url: str, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, window: float
) -> None:
    """Handled within the window, the answer rides on the acknowledgement (shown at once, no
    request of its own); handled later, the acknowledgement is empty and the answer goes to the
    command's response_url. Either way it is given once, and a retry gets nothing more."""
    monkeypatch.setattr(receiving, "ANSWER_WITHIN", window)
    ws = await start_ownit(db_url, fake)
    try:
        await ws.drive.command("alex", "open Acme: invoice 7 is wrong")
        body = ws.drive.command_body("alex", f"ask C-1 <@{uid('dana')}> refund out? by 4h")
        r = await ws.drive.post(body, FORM)
        assert r.status == 200
        await ws.app.inbox.settled()
        retried = await ws.drive.post(body, FORM)  # Slack's retry of the same command
        assert retried.status == 200 and retried.body == ""
        await ws.app.inbox.settled()
        posted = [readable(text_of(c)) for c in fake.of("response_url", hook=hook_of(body))]
        if window:
            assert "R-1 asked of" in readable(r.text()) and posted == []
        else:
            assert r.body == "" and len(posted) == 1 and "R-1 asked of" in posted[0]
        assert await count(ws, Request) == 1
    finally:
        await ws.stop()


async def test_a_command_queued_behind_others_is_acknowledged_without_waiting_for_its_answer(
    db_url: str, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No worker is free (here: none at all), so the answer cannot come soon: the
    acknowledgement goes at once, empty, and the command stays kept for whoever handles it."""
    monkeypatch.setattr(receiving, "ANSWER_WITHIN", 5.0)
    ws = await start_ownit(db_url, fake, inbox_workers=0)
    try:
        r = await ws.drive.post(ws.drive.command_body("alex", "open Acme: invoice 7"), FORM)
        assert r.status == 200 and r.body == "" and r.seconds < 2
        assert [row.payload["text"] for row in await inbox(ws)] == ["open Acme: invoice 7"]
    finally:
        await ws.stop()


async def test_a_replica_that_died_before_answering_is_answered_for(
    db_url: str, fake: FakeSlack
) -> None:
    """The dead replica had done the command (its delivery key is written) but not yet told the
    person: the replica that takes the row over finds a duplicate and gives its answer."""
    first = await start_ownit(db_url, fake, inbox_workers=0, **QUICK)
    second: Workspace | None = None
    try:
        await first.drive.command("alex", "open Acme: invoice 7 is wrong", answer=False)
        body = first.drive.command_body("alex", "ask C-1 @dana is the refund out?")
        hook = urllib.parse.parse_qs(body)["response_url"][0].rsplit("/", 1)[-1]
        assert (await first.drive.post(body, "application/x-www-form-urlencoded")).status == 200
        for row in await inbox(first):  # done as the dying replica did them: nobody was told
            command = slack.parse(row.payload["text"])
            where, key = slack.command_where(row.payload), slack.command_key(row.payload)
            assert (await first.bot.runner.execute(command, where, key)).ok
        async with first.app.db.session() as s:
            await s.exec(
                update(InboxItem).values(  # type: ignore[call-overload]
                    taken_by="died", taken_until=datetime.now(UTC) - timedelta(seconds=1)
                )
            )
        assert not fake.of("response_url", hook=hook)
        second = await start_ownit(db_url, fake, **QUICK)

        told = await fake.wait_for("response_url", hook=hook)
        assert "R-1" in readable(text_of(told[0]))
        assert await count(second, Request) == 1  # done once, answered once
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


async def test_a_delivery_that_keeps_killing_its_replica_is_given_up(
    sqlite_url: str, fake: FakeSlack
) -> None:
    first = await start_ownit(sqlite_url, fake, inbox_workers=0, **QUICK)
    second: Workspace | None = None
    try:
        await first.drive.command("alex", "open Acme: poison", answer=False)
        async with first.app.db.session() as s:
            await s.exec(
                update(InboxItem).values(  # type: ignore[call-overload]
                    taken_by="died", taken_until=datetime.now(UTC), attempts=5
                )
            )
        second = await start_ownit(sqlite_url, fake, **QUICK)

        def abandoned() -> float:
            return float(second.app.metrics.inbox_handled.labels("abandoned")._value.get())

        async def gone() -> bool:  # the row goes first, the count just after
            return abandoned() >= 1 and not await inbox(second)

        await until(gone)
        assert abandoned() == 1
        assert await count(second, Case) == 0
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


@pytest.mark.timing  # Slack's 3 s bound: measured alone, not beside three other test workers
async def test_a_burst_is_acknowledged_at_once_and_worked_off_after(
    db_url: str, fake: FakeSlack
) -> None:
    ws = await start_ownit(db_url, fake)
    try:
        opened = await ws.drive.command("alex", "open Acme: invoice 7 is wrong")
        assert opened.status == 200
        n = 60
        bodies = [
            ws.drive.command_body("alex", f"ask C-1 <@{uid('dana')}> question {i}? by 4h")
            for i in range(n)
        ]
        acks = await asyncio.gather(*(ws.drive.post(b, FORM) for b in bodies))
        assert all(a.status == 200 for a in acks)
        assert max(a.seconds for a in acks) < 3
        await ws.app.inbox.settled()
        assert await count(ws, Request) == n
        # each ask answered once: on its acknowledgement if handled in time, else after it
        on_ack = [readable(a.text()) for a in acks if a.body]
        replies = [readable(text_of(c)) for c in ws.fake.of("response_url")]
        asked = [t for t in on_ack + replies if "asked" in t]
        assert len(asked) == n, (on_ack[-1:], replies[-1:])
    finally:
        await ws.stop()


async def test_database_down_at_the_acknowledgement(pg_url: str, fake: FakeSlack) -> None:
    """A command says "try again" on its acknowledgement and writes nothing; an event is refused,
    so Slack sends it again, and the retry is handled once the database is back."""
    proxy = Proxy(PG_HOST, PG_PORT)
    await proxy.start()
    proxied = pg_url.replace(f"{PG_HOST}:{PG_PORT}", f"127.0.0.1:{proxy.listen_port}")
    ws = await start_ownit(proxied, fake)
    try:
        await ws.drive.command("alex", "open Acme: invoice 7 is wrong")
        proxy.sever()
        r = await ws.drive.command("alex", "open Beta: later", answer=False)
        assert r.status == 200 and r.seconds < 3
        assert dispatch.DATABASE_DOWN in r.text()
        dm = ws.drive.message("alex", "status C-1", "D" + uid("alex"))
        refused = await ws.drive.event(dm, event_id="EvDOWN")
        assert refused.status != 200  # Slack retries what was not acknowledged

        proxy.restore()
        retried = await ws.drive.event(dm, event_id="EvDOWN", retry=1)
        assert retried.status == 200
        await fake.wait_for(
            "chat.postMessage", lambda c: "Acme" in text_of(c), channel="D" + uid("alex")
        )
        # A handled row is deleted after its reply is sent, in the background.
        await asyncio.wait_for(ws.app.inbox.settled(), timeout=5)
        async with ws.app.db.reader() as s:
            customers = set((await s.exec(select(Case.customer))).all())
            left = (await s.exec(text("SELECT count(*) FROM inbox"))).one()  # type: ignore[call-overload]
        assert customers == {"Acme"} and left[0] == 0
    finally:
        await ws.stop()
        await proxy.close()


@pytest.mark.timing
async def test_acknowledged_while_the_write_hangs_then_told_when_it_fails(
    pg_url: str, fake: FakeSlack
) -> None:
    """A database that hangs past the budget doesn't hold the acknowledgement; when the write
    then fails, the person is told to try again, and nothing was kept."""
    ws = await start_ownit(pg_url, fake, ack_budget=0.5)
    locker = await asyncpg.connect(pg_url)
    try:
        await ws.drive.command("alex", "open Acme: invoice 7 is wrong")
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE")
        body = ws.drive.command_body("alex", "open Beta: hangs")
        hook = urllib.parse.parse_qs(body)["response_url"][0].rsplit("/", 1)[-1]
        r = await ws.drive.post(body, "application/x-www-form-urlencoded")
        assert r.status == 200 and r.body == "" and 0.5 <= r.seconds < 3

        stuck = (
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ~ 'inbox'"
        )
        await until(lambda: locker.fetchval(stuck))
        await locker.execute(f"SELECT pg_terminate_backend(({stuck} LIMIT 1))")
        told = await fake.wait_for("response_url", hook=hook, within=5)
        assert dispatch.DATABASE_DOWN in text_of(told[0])
        await lock.rollback()

        await ws.drive.command("alex", "open Gamma: after")
        async with ws.app.db.reader() as s:
            customers = set((await s.exec(select(Case.customer))).all())
        assert customers == {"Acme", "Gamma"}
    finally:
        await locker.close()
        await ws.stop()
