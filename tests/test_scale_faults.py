"""Faults: Redis down or restarted, PostgreSQL unreachable. ownit keeps answering and recovers.

Redis faults are made on a private redis-server; PostgreSQL faults on a TCP proxy in front of the
machine's PostgreSQL, which is cut and restored (the server itself is never stopped).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import func, select

from bot.clock import SimClock
from bot.commands import service as dispatch
from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from storage.tables import Case, Delivery, Request
from tests.conftest import PG_HOST, PG_PORT, need_server
from tests.scale_support import Proxy, RedisServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ALEX = dispatch.Origin("console", "alex")


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    if not RedisServer.available():
        need_server("redis-server binary", "127.0.0.1", 1)
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def _start(db_url: str, redis_url: str | None = None) -> Ownit:
    settings = load_settings(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url or "",
        OWNIT_ORG_FILE=str(example_org_file()),
        OWNIT_TIMEZONE="Europe/London",
    )
    app = await Ownit.start(settings, simulated=True)
    assert isinstance(app.clock, SimClock)
    app.clock.start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    await app.clock.now()
    return app


async def _count(app: Ownit, table: type) -> int:
    async with app.db.reader() as s:
        return int((await s.exec(select(func.count()).select_from(table))).one())


@pytest.fixture
async def redis_app(pg_url: str, own_redis: RedisServer) -> AsyncIterator[Ownit]:
    app = await _start(pg_url, own_redis.url)
    try:
        yield app
    finally:
        await app.close()


async def test_retry_is_answered_from_redis(redis_app: Ownit) -> None:
    first = await dispatch.handle(redis_app, "/case open Acme: invoice wrong", ALEX, key="ev-1")
    again = await dispatch.handle(redis_app, "/case open Acme: invoice wrong", ALEX, key="ev-1")
    assert first.ok and first.case == "C-1"
    assert again.duplicate and again.case == "C-1"
    assert again.plain() == first.plain()
    assert redis_app.metrics.deduplicated.labels("redis")._value.get() == 1
    assert await _count(redis_app, Case) == 1


async def test_a_retry_refused_by_what_the_first_changed_gets_the_first_answer(
    redis_app: Ownit, own_redis: RedisServer
) -> None:
    """Without Redis to remember it (down, or a delivery taken from the inbox), the retry of a
    click that answered a request finds the request answered: it still gets the first reply."""
    assert (await dispatch.handle(redis_app, "/case open Acme: refund", ALEX, key="e-1")).ok
    own_redis.kill()
    dana = dispatch.Origin("console", "dana")
    asked = await dispatch.handle(redis_app, "/case ask C-1 @dana why? by 4h", ALEX, key="e-2")
    assert asked.ok and asked.request == "R-1"
    first = await dispatch.handle(redis_app, "/case answer R-1 Refund issued.", dana, key="e-3")
    again = await dispatch.handle(redis_app, "/case answer R-1 Refund issued.", dana, key="e-3")
    other = await dispatch.handle(redis_app, "/case answer R-1 Issued twice?", dana, key="e-4")
    assert first.ok and again.duplicate and again.plain() == first.plain()
    assert not other.ok  # a new delivery is refused as before: R-1 is answered
    async with redis_app.db.reader() as s:
        req = await s.get(Request, 1)
    assert req is not None and req.answer == "Refund issued."


@pytest.mark.timing
async def test_redis_down_then_restarted(redis_app: Ownit, own_redis: RedisServer) -> None:
    ok = await dispatch.handle(redis_app, "/case open Acme: one", ALEX, key="ev-1")
    assert ok.ok

    own_redis.kill()
    started = time.monotonic()
    down = await dispatch.handle(redis_app, "/case open Beta: two", ALEX, key="ev-2")
    dup = await dispatch.handle(redis_app, "/case open Beta: two", ALEX, key="ev-2")
    old_dup = await dispatch.handle(redis_app, "/case open Acme: one", ALEX, key="ev-1")
    asked = await dispatch.handle(redis_app, "/case ask C-2 @dana why? by 4h", ALEX, key="ev-3")
    assert time.monotonic() - started < 5.0, "Redis down must not stall commands"
    assert down.ok and down.case == "C-2"
    assert dup.duplicate and dup.case == "C-2"  # refused by the database
    assert old_dup.duplicate and old_dup.case == "C-1"
    assert asked.ok and asked.request == "R-1"
    assert redis_app.metrics.deduplicated.labels("database")._value.get() == 2
    assert not redis_app.shared.available

    own_redis.start()  # restarted, and empty
    deadline = time.monotonic() + 10
    n = 0
    while not redis_app.shared.available and time.monotonic() < deadline:
        n += 1
        r = await dispatch.handle(redis_app, f"/case open Cust{n}: x", ALEX, key=f"probe-{n}")
        assert r.ok
        await asyncio.sleep(0.2)
    assert redis_app.shared.available
    back = await dispatch.handle(redis_app, "/case open Gamma: three", ALEX, key="ev-4")
    again = await dispatch.handle(redis_app, "/case open Gamma: three", ALEX, key="ev-4")
    assert back.ok and again.duplicate and again.case == back.case
    assert redis_app.metrics.deduplicated.labels("redis")._value.get() == 1
    # nothing lost, nothing doubled
    assert await _count(redis_app, Case) == 3 + n
    assert await _count(redis_app, Request) == 1
    assert await _count(redis_app, Delivery) == 4 + n


@pytest.mark.timing
async def test_database_unreachable_says_try_again_and_recovers(pg_url: str) -> None:
    need_server("PostgreSQL", PG_HOST, PG_PORT)
    proxy = Proxy(PG_HOST, PG_PORT)
    await proxy.start()
    proxied = pg_url.replace(f"{PG_HOST}:{PG_PORT}", f"127.0.0.1:{proxy.listen_port}")
    app = await _start(proxied)
    try:
        ok = await dispatch.handle(app, "/case open Acme: one", ALEX, key="ev-1")
        assert ok.ok

        proxy.sever()
        started = time.monotonic()
        failed = await dispatch.handle(app, "/case open Beta: two", ALEX, key="ev-2")
        status = await dispatch.handle(app, "/case status C-1", ALEX)
        assert time.monotonic() - started < 10
        for reply in (failed, status):
            assert not reply.ok
            assert reply.plain().strip() == dispatch.DATABASE_DOWN
            assert all(m.private for m in reply.messages)
        assert app.metrics.database_unavailable._value.get() == 2

        proxy.restore()
        retried = await dispatch.handle(app, "/case open Beta: two", ALEX, key="ev-2")
        assert retried.ok and retried.case == "C-2", retried.plain()
        assert not retried.duplicate  # the failed attempt left nothing behind
        assert await _count(app, Case) == 2
        assert await _count(app, Delivery) == 2
    finally:
        await app.close()
        await proxy.close()
