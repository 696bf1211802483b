"""The shared layer: the same behaviour from Redis and from its in-process twin, and Redis faults.

Faults are made on a private redis-server (killed and restarted); the machine's Redis stays up.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from storage.shared import LocalShared, Rate, RedisShared, Shared, namespace
from tests.conftest import need_server
from tests.scale_support import RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture(params=["local", "redis"])
async def shared(request: pytest.FixtureRequest) -> AsyncIterator[Shared]:
    s: Shared
    if request.param == "local":
        s = LocalShared()
    else:
        url = request.getfixturevalue("redis_url")
        s = RedisShared(url, prefix=f"ownit-test:{uuid.uuid4().hex[:8]}:")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    if not RedisServer.available():
        need_server("redis-server binary", "127.0.0.1", 1)  # skips, or fails under CI
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def test_claim_is_first_come(shared: Shared) -> None:
    assert await shared.claim("delivery:a", 60) is True
    assert await shared.claim("delivery:a", 60) is False
    assert await shared.get("delivery:a") == "pending"
    await shared.put("delivery:a", {"ok": True, "messages": []}, 60)
    assert await shared.get("delivery:a") == {"ok": True, "messages": []}
    await shared.forget("delivery:a")
    assert await shared.claim("delivery:a", 60) is True


async def test_keys_expire(shared: Shared) -> None:
    await shared.put("cache:profile:U1", {"name": "Dana"}, 0.2)
    assert await shared.get("cache:profile:U1") == {"name": "Dana"}
    assert await shared.claim("delivery:short", 0.2) is True
    deadline = time.monotonic() + 5
    # Both are gone once 0.2 s have passed; the claim was made a little after the put, so a
    # loaded machine can see one gone before the other.
    while (
        await shared.get("cache:profile:U1") is not None
        or await shared.get("delivery:short") is not None
    ):
        assert time.monotonic() < deadline, "the keys did not expire"
        await asyncio.sleep(0.02)
    assert await shared.claim("delivery:short", 0.2) is True


async def test_rate_limiter_spreads_sends_over_windows(shared: Shared) -> None:
    rate = Rate(limit=2, window=0.5)
    # Begun just after a window opens: begun just before it closes, the third send would find
    # the next window open by the time it asks (a loaded machine made that happen).
    await asyncio.sleep(rate.window - time.time() % rate.window + 0.01)
    waits = [await shared.reserve("slack:42", rate) for _ in range(6)]
    # two per half-second window: the first two now, then two in each of the next windows
    assert waits[0] < 0.5 and waits[1] < 0.5
    assert 0 < waits[2] <= 0.5 and waits[2] == pytest.approx(waits[3], abs=0.05)
    assert 0.5 < waits[4] <= 1.0
    other = await shared.reserve("slack:43", rate)  # another conversation is not held up
    assert other < 0.5


async def test_announcements_wake_every_listener(redis_url: str) -> None:
    prefix = f"ownit-test:{uuid.uuid4().hex[:8]}:"
    a, b = RedisShared(redis_url, prefix=prefix), RedisShared(redis_url, prefix=prefix)
    heard: dict[str, list[frozenset[str] | None]] = {"a": [], "b": []}
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.listen(stop, heard[n].append)) for n, s in (("a", a), ("b", b))]

    async def until(done: Callable[[], bool]) -> None:
        for _ in range(100):
            if done():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(heard)

    try:
        assert not a.subscribed and not b.subscribed
        await until(lambda: heard["a"] == heard["b"] == [None])  # anything, as each subscribes
        assert a.subscribed and b.subscribed
        await a.announce()
        await until(lambda: heard["b"][1:] == [frozenset({"timers"})])
        # a change of people announced while another announcement is in flight is not lost
        await asyncio.gather(a.announce("timers"), a.announce("people"), a.announce("timers"))
        await until(lambda: any("people" in (t or ()) for t in heard["b"][2:]))
        await b.announce("policy")
        await until(lambda: heard["a"][1:] == [frozenset({"policy"})])
        assert not any("policy" in (t or ()) for t in heard["b"])  # nobody hears their own
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await a.close()
        await b.close()
    assert not a.subscribed and not b.subscribed


def test_namespaces_differ_per_database() -> None:
    assert namespace("postgresql://x/a") != namespace("postgresql://x/b")


@pytest.mark.timing
async def test_redis_down_answers_unknown_fast_and_recovers(own_redis: RedisServer) -> None:
    s = RedisShared(own_redis.url, prefix="t:", pause=0.3)
    other = RedisShared(own_redis.url, prefix="t:", pause=0.3)
    stop = asyncio.Event()
    woken: list[float] = []
    listener = asyncio.create_task(s.listen(stop, lambda _: woken.append(time.monotonic())))
    try:
        assert await s.claim("k1", 60) is True
        own_redis.kill()
        started = time.monotonic()
        assert await s.claim("k2", 60) is None  # unknown: the caller falls back to the database
        assert await s.get("k1") is None
        assert await s.put("k3", {"x": 1}, 60) is False
        assert await s.reserve("slack:1", Rate(1)) == 0.0  # no pacing rather than no sending
        await s.announce()
        assert not s.available
        assert time.monotonic() - started < 2.0
        # while known down, calls cost nothing
        t = time.monotonic()
        for _ in range(100):
            await s.claim("k4", 60)
        assert time.monotonic() - t < 0.5

        own_redis.start()  # same port, empty (no persistence): a restarted Redis
        deadline = time.monotonic() + 10
        for _ in range(100):
            if time.monotonic() > deadline or await s.claim("k5", 60) is True:
                break
            await asyncio.sleep(0.1)
        assert s.available
        assert await s.claim("k5", 60) is False

        # the listener resubscribed by itself: an announcement reaches it again
        mark = time.monotonic()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(w > mark for w in woken):
            await other.announce()
            await asyncio.sleep(0.2)
        assert any(w > mark for w in woken)
    finally:
        stop.set()
        await listener
        await s.close()
        await other.close()


async def test_the_in_process_twin_stays_bounded() -> None:
    s = LocalShared()
    s.max_keys = 100
    for i in range(1000):
        await s.put(f"delivery:{i}", {"ok": True}, 3600)
    assert len(s._values) <= 100
    assert await s.get("delivery:999") == {"ok": True}
