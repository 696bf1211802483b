"""Web and worker processes: the web role only acknowledges, workers handle what it kept.

A deployment that wants acknowledgements to own their CPU runs `OWNIT_ROLE=web` behind the load
balancer and `OWNIT_ROLE=worker` beside it, on one PostgreSQL. The first tests run both in the test
process against a fake Slack; the last runs them as real `ownit serve` processes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from handlers.cli import main
from storage.tables import Case, InboxItem
from tests.fakes.slack_api import (
    FakeSlack,
    Workspace,
    count,
    readable,
    start_ownit,
    text_of,
    uid,
    until,
)

pytestmark = pytest.mark.postgres


def handled_here(ws: Workspace) -> float:
    return float(ws.app.metrics.inbox_handled.labels("ok")._value.get())


async def test_the_web_role_acknowledges_and_a_worker_handles(pg_url: str, fake: FakeSlack) -> None:
    web = await start_ownit(pg_url, fake, OWNIT_ROLE="web")
    worker = await start_ownit(pg_url, fake, OWNIT_ROLE="worker")
    try:
        assert web.app.tasks == []  # no scheduler, delivery, digests or inbox workers
        r = await web.drive.command("alex", "open Acme: invoice 7 is wrong", answer=False)
        assert r.status == 200 and r.ack == ""
        channel, _thread = await web.case_thread()  # the worker posted the case's card
        assert channel == "CSUPPORT"

        asked = await web.drive.command("alex", f"ask C-1 <@{uid('dana')}> the refund? by 2h")
        assert "asked" in readable(asked.body)

        async def both_handled() -> bool:  # counted once the handler is done: after its answer
            return handled_here(worker) == 2

        await until(both_handled, within=5)
        assert handled_here(web) == 0
        dm = await fake.wait_for("chat.postMessage", lambda c: "refund" in text_of(c))
        assert dm  # the worker's delivery sent the colleague the request

        # The worker serves health and metrics but no Slack: the balancer must not send it any.
        status = await worker.drive.post(
            worker.drive.command_body("alex", "status C-1"), "application/x-www-form-urlencoded"
        )
        assert status.status == 404

        # The worker's scheduler fires the ladder for a request the web process acknowledged.
        await web.app.clock.advance(timedelta(hours=3))  # type: ignore[attr-defined]
        web.app.poke()  # what a command does: the worker hears of it through Redis, or polls
        nudge = await fake.wait_for(
            "chat.postMessage", lambda c: "Reminder" in text_of(c) and "R-1" in text_of(c)
        )
        assert nudge[0].args["channel"] == "DUDANA"
    finally:
        await web.stop()
        await worker.stop()


async def test_acknowledged_while_no_worker_runs_is_handled_when_one_starts(
    pg_url: str, fake: FakeSlack
) -> None:
    web = await start_ownit(pg_url, fake, OWNIT_ROLE="web")
    workers: list[Workspace] = []
    try:
        n = 40
        bodies = [web.drive.command_body("alex", f"open Cust {i}: issue {i}") for i in range(n)]
        form = "application/x-www-form-urlencoded"
        acks = await asyncio.gather(*(web.drive.post(b, form) for b in bodies))
        assert all(a.status == 200 and a.body == "" for a in acks)
        assert await count(web, InboxItem) == n  # kept, nobody to handle them yet
        assert await count(web, Case) == 0

        workers = [await start_ownit(pg_url, fake, OWNIT_ROLE="worker") for _ in range(2)]

        async def all_handled() -> bool:
            # the inbox row goes in the command's own transaction; a worker counts it just after
            done = sum(handled_here(w) for w in workers) >= n
            return done and await count(web, Case) == n and await count(web, InboxItem) == 0

        await until(all_handled, within=60)
        shares = [handled_here(w) for w in workers]
        assert sum(shares) == n, shares  # each delivery handled once
        assert all(share > 0 for share in shares), shares  # the two shared the backlog

        async def every_card_posted() -> bool:
            cards = fake.of("chat.postMessage", channel="CSUPPORT")
            return len({text_of(c).split(":")[0] for c in cards}) == n

        await until(every_card_posted, within=30)
    finally:
        await web.stop()
        for w in workers:
            await w.stop()


def test_the_roles_need_postgresql(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:///ownit.db")
    monkeypatch.setenv("OWNIT_ROLE", "web")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "OWNIT_ROLE" in err and "PostgreSQL" in err and "OWNIT_ROLE=all" in err


def test_a_database_out_of_reach_at_start_is_said_plainly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://ownit:secret@127.0.0.1:1/ownit")
    assert main(["migrate"]) == 3
    err = capsys.readouterr().err
    assert "cannot reach the database at postgresql://ownit:***@127.0.0.1:1/ownit" in err
    assert "secret" not in err and "Traceback" not in err


ASKS = 300


@pytest.mark.slow
@pytest.mark.redis
async def test_one_web_process_and_two_workers_one_killed(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Real processes: signed commands and their retries go to the web process only; two workers
    handle them, one is killed with SIGKILL half-way, and every ask is handled exactly once."""
    import aiohttp

    from tests.fakes.slack_api import Driver
    from tests.scale_support import Replica, replica_env
    from tests.test_scale_replicas import _prepare, _scalar

    fake = await FakeSlack().start()
    await _prepare(pg_url)
    slack = fake.env(OWNIT_INBOX_LEASE="2")  # what the killed worker had taken lapses quickly

    def start(role: str, name: str) -> Replica:
        env = replica_env(pg_url, redis_url=redis_url, OWNIT_ROLE=role, **slack)
        return Replica(env, tmp_path / f"{name}.log")

    web, *workers = [start("web", "web"), start("worker", "w0"), start("worker", "w1")]
    drive = Driver(f"http://127.0.0.1:{web.port}", fake)
    form = "application/x-www-form-urlencoded"
    gate = asyncio.Semaphore(16)

    async def deliver(body: str) -> None:
        async with gate:
            first = await drive.post(body, form)
            retry = await drive.post(body, form, headers={"X-Slack-Retry-Num": "1"})
            assert first.status == retry.status == 200 and first.body == retry.body == ""

    async def inbox_empty() -> bool:
        return await _scalar(pg_url, "SELECT count(*) FROM inbox") == 0

    try:
        for r in (web, *workers):
            await asyncio.to_thread(r.wait_ready)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{workers[0].port}/slack/events") as resp:
                assert resp.status == 404  # a worker takes no traffic
        await deliver(drive.command_body("alex", "open Acme: invoice 7 is wrong"))
        await until(inbox_empty, within=30)
        bodies = [
            drive.command_body("alex", f"ask C-1 <@{uid('dana')}> question {i}? by 4h")
            for i in range(ASKS)
        ]

        async def a_third_handled() -> bool:
            return await _scalar(pg_url, "SELECT count(*) FROM request") >= ASKS // 3

        async def kill_half_way() -> None:
            await until(a_third_handled, within=120)
            workers[0].sigkill()

        killer = asyncio.create_task(kill_half_way())
        await asyncio.gather(*(deliver(b) for b in bodies))
        await killer
        await until(inbox_empty, within=120)

        assert await _scalar(pg_url, "SELECT count(*) FROM request") == ASKS
        assert await _scalar(pg_url, "SELECT count(*) FROM delivery") == ASKS + 1
        assert workers[1].proc.poll() is None, workers[1].log()[-2000:]
        assert web.proc.poll() is None, web.log()[-2000:]
        answers = [c for c in fake.of("response_url") if "asked" in readable(text_of(c))]
        assert len(answers) >= ASKS - 16  # the killed worker may have been cut off mid-answer
    finally:
        await drive.close()
        for r in (web, *workers):
            await asyncio.to_thread(r.stop)
        await fake.close()
