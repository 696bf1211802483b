"""What replicas share: idempotency keys, wake-ups, outbound rate limits and small caches.

With `REDIS_URL` set these live in Redis, so every replica sees them; without it, `LocalShared`
keeps the same things in the process (one process needs nothing more). Values are JSON, never
pickles. Redis is a helper, never the source of truth: every call is guarded, so when Redis is down
or restarting a call answers "unknown" (`None`) quickly, the caller falls back (the database still
refuses duplicates, the scheduler still polls), and the client reconnects by itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

PENDING = "pending"
"""The value of an idempotency key whose first delivery is still being handled."""

TIMERS = "timers"
"""What an announcement says when it names nothing else: look at the timers (and notices) now."""

ANNOUNCE_EVERY = 0.05
"""Seconds between one process's announcements under load (what arrives meanwhile goes in one)."""

Topics = frozenset[str]
"""What an announcement says changed; `None` to a listener: anything (announcements it may have
missed while it was not subscribed)."""


@dataclass(frozen=True)
class Rate:
    """At most `limit` sends per `window` seconds to one conversation."""

    limit: int
    window: float = 1.0


class Shared(Protocol):
    kind: str

    @property
    def available(self) -> bool: ...

    async def claim(self, key: str, ttl: float) -> bool | None:
        """Mark `key` as seen: True if it was new, False if already seen, None if unknown."""
        ...

    async def get(self, key: str) -> Any | None: ...

    async def put(self, key: str, value: Any, ttl: float) -> bool: ...

    async def forget(self, key: str) -> None: ...

    async def reserve(self, scope: str, rate: Rate) -> float:
        """Book one send in `scope`; returns how many seconds to wait before sending."""
        ...

    @property
    def subscribed(self) -> bool:
        """True while this process hears every replica's announcements (what it keeps in memory
        may then be kept until an announcement says it changed)."""
        ...

    async def announce(self, *topics: str) -> None:
        """Tell every replica what changed (`topics`, `TIMERS` when none): its scheduler looks at
        the timers now, and it forgets what it kept of the rest."""
        ...

    async def listen(self, stop: asyncio.Event, on_wake: Callable[[Topics | None], None]) -> None:
        """Call `on_wake` with the topics of every other replica's announcement until `stop`,
        and with `None` on (re)subscribing, for what was announced meanwhile. A process does not
        hear its own: it woke its loops itself, only those it had to (`ChangeHooks.poke`)."""
        ...

    async def close(self) -> None: ...


def namespace(database_url: str) -> str:
    """Keys are prefixed per database, so deployments (and tests) sharing a Redis never mix."""
    return "ownit:" + hashlib.sha1(database_url.encode()).hexdigest()[:10] + ":"


def make_shared(redis_url: str | None, database_url: str) -> Shared:
    if redis_url:
        return RedisShared(redis_url, prefix=namespace(database_url))
    return LocalShared()


class LocalShared:
    """The in-process twin: the same behaviour for a single process, no server.

    It holds at most `max_keys` values: past that the oldest go first, which is safe because the
    database, not this store, is the source of truth for what was already handled.
    """

    kind = "local"
    max_keys = 20_000

    def __init__(self) -> None:
        self._values: dict[str, tuple[float, str]] = {}
        self._windows: dict[tuple[str, int], int] = {}
        self._listeners: list[Callable[[Topics | None], None]] = []

    @property
    def available(self) -> bool:
        return True

    @property
    def subscribed(self) -> bool:
        return False  # it hears only this process: other processes on the database go unheard

    def _expire(self) -> None:
        if len(self._values) >= self.max_keys:
            now = time.monotonic()
            live = [(k, v) for k, v in self._values.items() if v[0] > now]
            self._values = dict(live[-(self.max_keys * 9 // 10) :])
        if len(self._windows) > 10_000:
            floor = int(time.time()) - 120
            self._windows = {k: n for k, n in self._windows.items() if k[1] > floor}

    def _live(self, key: str) -> str | None:
        hit = self._values.get(key)
        if hit is None:
            return None
        if hit[0] <= time.monotonic():
            del self._values[key]
            return None
        return hit[1]

    async def claim(self, key: str, ttl: float) -> bool | None:
        if self._live(key) is not None:
            return False
        self._expire()
        self._values[key] = (time.monotonic() + ttl, json.dumps(PENDING))
        return True

    async def get(self, key: str) -> Any | None:
        raw = self._live(key)
        return None if raw is None else json.loads(raw)

    async def put(self, key: str, value: Any, ttl: float) -> bool:
        self._expire()
        self._values[key] = (time.monotonic() + ttl, json.dumps(value))
        return True

    async def forget(self, key: str) -> None:
        self._values.pop(key, None)

    async def reserve(self, scope: str, rate: Rate) -> float:
        now = time.time()
        first = math.floor(now / rate.window)
        self._expire()
        for i in range(60):
            slot = (scope, first + i)
            used = self._windows.get(slot, 0)
            if used < rate.limit:
                self._windows[slot] = used + 1
                return max(0.0, (first + i) * rate.window - now)
        return 60 * rate.window

    async def announce(self, *topics: str) -> None:
        said = frozenset(topics or (TIMERS,))
        for wake in list(self._listeners):
            wake(said)

    async def listen(self, stop: asyncio.Event, on_wake: Callable[[Topics | None], None]) -> None:
        self._listeners.append(on_wake)
        try:
            await stop.wait()
        finally:
            self._listeners.remove(on_wake)

    async def close(self) -> None:
        self._values.clear()


# One round trip, atomic: book the first window of `limit` sends that still has room.
_RESERVE = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local first = math.floor(now / window)
for i = 0, 59 do
  local key = KEYS[1] .. ':' .. (first + i)
  local used = redis.call('INCR', key)
  if used == 1 then redis.call('EXPIRE', key, math.ceil(window * (i + 2))) end
  if used <= limit then return tostring(math.max(0, (first + i) * window - now)) end
end
return tostring(60 * window)
"""


class _Down(Exception):
    pass


class RedisShared:
    """Redis for many replicas. Each call is guarded: Redis down → `None`/skip, log, carry on.

    After a failure Redis is left alone for `pause` seconds (so a dead server costs nothing per
    request), then tried again; the client's pool reconnects by itself.
    """

    kind = "redis"

    def __init__(
        self, url: str, *, prefix: str = "ownit:", timeout: float = 0.5, pause: float = 1.0
    ) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.url = url
        self.prefix = prefix
        self.pause = pause
        self.channel = prefix + "wake"
        common: dict[str, Any] = {
            "socket_connect_timeout": timeout,
            "decode_responses": True,
            "retry": Retry(NoBackoff(), 0),
        }
        self.client = aioredis.Redis.from_url(url, socket_timeout=timeout, **common)
        # Pub/sub blocks in reads by design; it gets its own client without a read timeout.
        self._sub_client = aioredis.Redis.from_url(url, health_check_interval=5, **common)
        self._reserve = self.client.register_script(_RESERVE)
        self._down_until = 0.0
        self._up = True
        self._announcing = False
        self._unsaid: set[str] = set()  # topics announced here and not yet published
        self._subscribed = False
        self.failures = 0
        self.me = uuid.uuid4().hex[:12]  # announcements are signed, so that one's own are ignored

    @property
    def available(self) -> bool:
        return self._up

    @property
    def subscribed(self) -> bool:
        return self._subscribed

    def _failed(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        self._down_until = time.monotonic() + self.pause
        if self._up:
            log.warning("Redis unavailable (%s: %s); carrying on without it", what, exc)
        self._up = False

    async def _guard(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis call, or raise `_Down` at once while Redis is known to be down."""
        from redis.exceptions import RedisError

        if not self._up and time.monotonic() < self._down_until:
            raise _Down
        try:
            result = await call()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(what, exc)
            raise _Down from exc
        if not self._up:
            log.warning("Redis is back")
            self._up = True
        return result

    async def claim(self, key: str, ttl: float) -> bool | None:
        try:
            ok = await self._guard(
                "claim",
                lambda: self.client.set(
                    self.prefix + key, json.dumps(PENDING), nx=True, px=int(ttl * 1000)
                ),
            )
        except _Down:
            return None
        return bool(ok)

    async def get(self, key: str) -> Any | None:
        try:
            raw = await self._guard("get", lambda: self.client.get(self.prefix + key))
        except _Down:
            return None
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    async def put(self, key: str, value: Any, ttl: float) -> bool:
        data = json.dumps(value)
        try:
            await self._guard(
                "put", lambda: self.client.set(self.prefix + key, data, px=int(ttl * 1000))
            )
        except _Down:
            return False
        return True

    async def forget(self, key: str) -> None:
        try:
            await self._guard("forget", lambda: self.client.delete(self.prefix + key))
        except _Down:
            pass

    async def reserve(self, scope: str, rate: Rate) -> float:
        try:
            wait = await self._guard(
                "reserve",
                lambda: self._reserve(
                    keys=[self.prefix + "rate:" + scope],
                    args=[repr(time.time()), rate.limit, repr(rate.window)],
                ),
            )
        except _Down:
            return 0.0
        return float(wait)

    async def announce(self, *topics: str) -> None:
        """Under load every command announces: the first goes out at once, and the next, at
        most `ANNOUNCE_EVERY` later, says all that was announced meanwhile (after the changes
        it tells of were committed). The listeners gather what arrives within as long again,
        so a wake-up a little later costs them nothing, and a busy process publishes (and
        hears itself) tens of times a second rather than once per command."""
        self._unsaid.update(topics or (TIMERS,))
        if self._announcing:
            return
        self._announcing = True
        try:
            while self._unsaid:
                said = frozenset(self._unsaid)
                self._unsaid.clear()
                words = f"{self.me}:{','.join(sorted(said))}"
                publish = partial(self.client.publish, self.channel, words)
                try:
                    await self._guard("announce", publish)
                except _Down:
                    self._unsaid.update(said)  # said with the next announcement that gets out
                    return
                await asyncio.sleep(ANNOUNCE_EVERY)
        finally:
            self._announcing = False

    async def listen(self, stop: asyncio.Event, on_wake: Callable[[Topics | None], None]) -> None:
        from redis.exceptions import RedisError

        quiet = False
        while not stop.is_set():
            pubsub = self._sub_client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if quiet:
                    log.warning("Redis wake-ups resumed")
                    quiet = False
                self._subscribed = True
                on_wake(None)  # anything announced while we were not listening
                while not stop.is_set():
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is None:
                        continue
                    sender, _, said = str(msg.get("data", "")).rpartition(":")
                    if sender != self.me:
                        on_wake(frozenset(t for t in said.split(",") if t))
            except (RedisError, OSError, TimeoutError) as exc:
                if not quiet:
                    log.warning("Redis wake-ups lost (%s); polling until Redis is back", exc)
                    quiet = True
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.pause)
                except TimeoutError:
                    pass
            finally:
                self._subscribed = False
                try:
                    await pubsub.aclose()
                except Exception:
                    pass

    async def close(self) -> None:
        for client in (self.client, self._sub_client):
            try:
                await client.aclose()
            except Exception:
                pass
