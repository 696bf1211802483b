"""Several replicas on one PostgreSQL and one Redis: no duplicates, every ladder step once.

Three `ownit serve` processes share a database and a Redis on a simulated clock.
- Through the services: three more processes open cases and ask colleagues, sending every command
  twice with the same delivery key, while a private Redis is stopped and restarted.
- Through Slack: a thousand signed `/case` commands and their retries spread over the replicas
  (a fake Slack Web API answers them), one replica killed with SIGKILL half-way.
Then the clock moves past every deadline while a replica is killed: the others fire what it had
claimed, and nothing fires twice.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.clock import SimClock
from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from storage.db import Database
from tests.conftest import need_server
from tests.scale_support import RedisServer, Replica, replica_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[1]
WRITERS = 3
CASES_PER_WRITER = 50
STEPS = ("nudge", "at_risk", "overdue")


async def _prepare(url: str) -> None:
    """Migrate, load the organisation and set the shared simulated clock: Mon 09:00 London."""
    settings = load_settings(
        DATABASE_URL=url, OWNIT_ORG_FILE=str(example_org_file()), OWNIT_TIMEZONE="Europe/London"
    )
    app = await Ownit.start(settings, simulated=True)
    try:
        assert isinstance(app.clock, SimClock)
        app.clock.start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        await app.clock.now()
    finally:
        await app.close()


async def _advance(url: str, delta: timedelta) -> None:
    db = Database(url)
    try:
        await SimClock(db).advance(delta)
    finally:
        await db.dispose()


def _wait_for_cases(url: str, count: int, timeout: float = 60) -> int:
    """Poll until at least `count` cases are written; returns how many there are."""
    deadline = time.monotonic() + timeout
    while (n := asyncio.run(_scalar(url, 'SELECT count(*) FROM "case"'))) < count:
        assert time.monotonic() < deadline, f"only {n} of {count} cases written"
        time.sleep(0.05)
    return n


async def _scalar(url: str, sql: str) -> int:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return int((await conn.execute(text(sql))).scalar_one())
    finally:
        await db.dispose()


async def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]
    finally:
        await db.dispose()


def test_replicas_fire_every_step_once_with_one_killed(pg_url: str, tmp_path: Path) -> None:
    if not RedisServer.available():
        need_server("redis-server binary", "127.0.0.1", 1)
    redis = RedisServer()
    redis.start()
    asyncio.run(_prepare(pg_url))
    replicas = [
        Replica(replica_env(pg_url, redis_url=redis.url), tmp_path / f"replica{i}.log")
        for i in range(3)
    ]
    writers: list[subprocess.Popen[bytes]] = []
    try:
        for r in replicas:
            r.wait_ready()

        # Writers: each opens cases and asks in each, every command delivered twice.
        env = replica_env(pg_url, redis_url=redis.url)
        for w in range(WRITERS):
            writers.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "tests.scale_support", "create"),
                        *("--prefix", f"w{w}", "--cases", str(CASES_PER_WRITER)),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
            )
        # Redis stops and comes back (empty) in the middle of the writing: once a third of the
        # cases are written, and again once more were written without it.
        total = WRITERS * CASES_PER_WRITER
        written = _wait_for_cases(pg_url, total // 3)
        redis.kill()
        _wait_for_cases(pg_url, min(total, written + total // 10))
        redis.start()
        for p in writers:
            out, _ = p.communicate(timeout=150)
            assert p.returncode == 0, out.decode(errors="replace")[-3000:]

        assert asyncio.run(_scalar(pg_url, 'SELECT count(*) FROM "case"')) == total
        assert asyncio.run(_scalar(pg_url, "SELECT count(*) FROM request")) == total
        assert asyncio.run(_scalar(pg_url, "SELECT count(*) FROM timer WHERE done")) == 0

        # Past every deadline; one replica dies while the three are firing.
        asyncio.run(_advance(pg_url, timedelta(days=2)))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if asyncio.run(_scalar(pg_url, "SELECT count(*) FROM timer WHERE done")) > 0:
                break
            time.sleep(0.05)
        replicas[0].sigkill()

        expected = total * len(STEPS)
        deadline = time.monotonic() + 90
        done = 0
        while time.monotonic() < deadline:
            done = asyncio.run(_scalar(pg_url, "SELECT count(*) FROM timer WHERE done"))
            if done == expected:
                break
            time.sleep(0.5)
        assert done == expected, f"{done}/{expected} steps done"

        twice = asyncio.run(
            _rows(
                pg_url,
                "SELECT request_id, kind, count(*) FROM event WHERE kind LIKE 'step:%' "
                "GROUP BY request_id, kind HAVING count(*) <> 1",
            )
        )
        assert twice == []
        fired = asyncio.run(_scalar(pg_url, "SELECT count(*) FROM event WHERE kind LIKE 'step:%'"))
        assert fired == expected
        outcomes = asyncio.run(_rows(pg_url, "SELECT outcome, count(*) FROM timer GROUP BY 1"))
        assert outcomes == [("fired", expected)]
        for r in replicas[1:]:
            assert r.proc.poll() is None, r.log()[-2000:]
    finally:
        for p in writers:
            if p.poll() is None:
                p.kill()
        for r in replicas:
            r.stop()
        redis.kill()


OPENS = int(os.environ.get("OWNIT_SCALE_OPENS", "500"))  # opens + asks: 1000 signed commands


async def test_thousand_signed_slack_commands_over_three_replicas(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    import aiohttp

    from tests.fakes.slack_api import Driver, FakeSlack, uid

    fake = await FakeSlack().start()
    await _prepare(pg_url)
    # what the killed replica acknowledged is taken over quickly
    slack = fake.env(OWNIT_INBOX_LEASE="2")
    replicas = [
        Replica(replica_env(pg_url, redis_url=redis_url, **slack), tmp_path / f"slack{i}.log")
        for i in range(3)
    ]
    drivers = [Driver(f"http://127.0.0.1:{r.port}", fake) for r in replicas]
    alive = [True, True, True]
    gate = asyncio.Semaphore(12)
    form = "application/x-www-form-urlencoded"

    async def post(body: str, target: int, retry: int) -> None:
        """Deliver to `target`; a replica that is gone makes Slack retry elsewhere."""
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        for k in range(6):
            i = (target + k) % 3
            if not alive[i]:
                continue
            try:
                r = await drivers[i].post(body, form, headers=headers if retry else None)
            except aiohttp.ClientError:
                continue
            if r.status == 200:
                return
        raise AssertionError("no replica acknowledged a command")

    async def command(n: int, body: str) -> None:
        async with gate:
            await post(body, n % 3, 0)
            await post(body, (n + 1) % 3, 1)  # Slack's retry, on another replica

    async def handled() -> None:
        """Acknowledged is kept, not yet done: wait until every replica's inbox is empty."""
        for _ in range(1200):
            if await _scalar(pg_url, "SELECT count(*) FROM inbox") == 0:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("acknowledged commands were never handled")

    try:
        for r in replicas:
            await asyncio.to_thread(r.wait_ready)
        t0 = time.monotonic()
        opens = [drivers[0].command_body("alex", f"open Cust {i}: issue {i}") for i in range(OPENS)]
        await asyncio.gather(*(command(n, b) for n, b in enumerate(opens)))
        await handled()
        ids = dict(
            await _rows(pg_url, 'SELECT customer, id FROM "case"')  # type: ignore[arg-type]
        )
        assert len(ids) == OPENS
        asks = [
            drivers[0].command_body(
                "alex", f"ask C-{ids[f'Cust {i}']} <@{uid('dana')}> q{i}? by 4h"
            )
            for i in range(OPENS)
        ]

        async def kill_half_way() -> None:
            for _ in range(6000):
                if await _scalar(pg_url, "SELECT count(*) FROM request") >= OPENS // 2:
                    break
                await asyncio.sleep(0.05)
            alive[0] = False
            replicas[0].sigkill()
            left = await _scalar(pg_url, "SELECT count(*) FROM inbox")
            print(f"killed a replica with {left} acknowledged commands not yet handled")

        t1 = time.monotonic()
        killer = asyncio.create_task(kill_half_way())
        await asyncio.gather(*(command(n, b) for n, b in enumerate(asks)))
        await killer
        await handled()

        assert await _scalar(pg_url, 'SELECT count(*) FROM "case"') == OPENS
        assert await _scalar(pg_url, "SELECT count(*) FROM request") == OPENS
        assert (
            await _rows(pg_url, "SELECT case_id FROM request GROUP BY 1 HAVING count(*) > 1") == []
        )
        assert await _scalar(pg_url, "SELECT count(*) FROM delivery") == 2 * OPENS

        t2 = time.monotonic()
        await _advance(pg_url, timedelta(days=2))
        expected = OPENS * len(STEPS)
        done = 0
        for _ in range(600):
            done = await _scalar(pg_url, "SELECT count(*) FROM timer WHERE done")
            if done == expected:
                break
            await asyncio.sleep(0.2)
        assert done == expected, f"{done}/{expected} steps done"
        print(f"opens {t1 - t0:.1f}s, asks {t2 - t1:.1f}s, firing {time.monotonic() - t2:.1f}s")
        assert (
            await _rows(
                pg_url,
                "SELECT request_id, kind FROM event WHERE kind LIKE 'step:%' "
                "GROUP BY request_id, kind HAVING count(*) <> 1",
            )
            == []
        )
        assert await _scalar(pg_url, "SELECT count(*) FROM event WHERE kind LIKE 'step:%'") == (
            expected
        )
        for r in replicas[1:]:
            assert r.proc.poll() is None, r.log()[-2000:]
    finally:
        for d in drivers:
            await d.close()
        for r in replicas:
            await asyncio.to_thread(r.stop)
        await fake.close()
