"""Requests in flight, and the pause background work waits for so acknowledgements never queue.

The inbox workers, the card posters and notice delivery all ask `Arrivals` for their turn; it is
the adaptive part of the process (sampling the loop's lateness and running share) and has no
business with what the inbox stores.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

QUIET = 0.005  # no request arrived for this long: nobody is waiting for an acknowledgement
PATIENCE = 0.2  # under unbroken load, still start one delivery this often
SAMPLE = 0.02  # seconds between looks at the loop (its lateness, its running share) under requests
STRAIN = 0.0025  # that lateness (smoothed) says the CPUs are short: wait for a real pause
BUSY = 0.6  # or running this share of the time (smoothed): the rest is the requests' margin
STRAINED_QUIET = 0.25  # the pause in arrivals that lets background work go while strained
STRAINED_PATIENCE = 1.0  # and how often one piece goes anyway, under unbroken strained load
SMOOTHING = 0.2  # weight of each new sample
SAMPLED_FOR = 1.0  # seconds after the last request that sampling goes on (then lateness is 0)
LOADED_SLOTS = 1  # inbox deliveries handled at once while requests keep arriving (then all workers)


class Arrivals:
    """Requests in flight. Background work (handling the inbox, posting cards, delivering
    notices) gives way to them, so acknowledgements never queue behind it.

    Waiting costs nothing per waiter: one timer wakes them when the requests stop (`QUIET` after
    the last) or lets the longest-waiting one go every `PATIENCE` under unbroken load. While
    requests arrive, the loop is sampled: how late it runs its timers (the CPUs are short: the
    process shares them with others) and how much of the time it spends running (its own work
    fills it: acknowledgements and handling together). Strained either way, a gap of a few
    milliseconds between requests is no pause, and background work waits for a real one
    (`STRAINED_QUIET`) or goes one piece per `STRAINED_PATIENCE`: every CPU-millisecond it took
    would be an acknowledgement's, and a loop near full queues them.
    """

    def __init__(self) -> None:
        self.count = 0
        self.last = 0.0
        self.lag = 0.0  # smoothed lateness of the loop's timers, while requests arrive
        self.running = 0.0  # smoothed share of the time the loop's thread ran on a CPU, meanwhile
        self._sampled = (0.0, 0.0)  # (loop time, thread CPU time) of the last sample
        self._last_forced = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._sampler: asyncio.TimerHandle | None = None
        self.handling = 0  # inbox deliveries in hand (`slot`)
        self._queued: deque[asyncio.Future[None]] = deque()  # waiting for a slot

    @contextmanager
    def arriving(self) -> Iterator[None]:
        self.count += 1
        self.last = _now()
        if self._sampler is None:
            self._sample(self.last)
        try:
            yield
        finally:
            self.count -= 1
            self.last = _now()
            if not self.count and self._waiters:
                self._wake_at(self.last + self.quiet)

    @property
    def strained(self) -> bool:
        return self.lag > STRAIN or self.running > BUSY

    @property
    def quiet(self) -> float:
        return STRAINED_QUIET if self.strained else QUIET

    @property
    def patience(self) -> float:
        return STRAINED_PATIENCE if self.strained else PATIENCE

    @property
    def loaded(self) -> bool:
        """Requests in flight or arrived within `SAMPLED_FOR`: more may come any moment."""
        return bool(self.count) or _now() - self.last < SAMPLED_FOR

    def _room(self) -> float:
        return LOADED_SLOTS if self.loaded else math.inf

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """A turn to handle one delivery: while requests keep arriving, `LOADED_SLOTS` at once.

        Several deliveries in hand keep the loop (and the CPU) busy between their database round
        trips; acknowledgements of this process, and of replicas sharing its CPUs, would wait
        for it. One at a time, the process sleeps while its statement runs. A waiter always has
        one in hand before it, whose end lets it go (all of them, once requests have stopped).
        """
        while self.handling >= self._room():
            opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._queued.append(opened)
            try:
                await opened
            except asyncio.CancelledError:
                if opened.done() and not opened.cancelled():
                    self._open()  # its turn passes on
                raise
        self.handling += 1
        try:
            await self.make_way()
            yield
        finally:
            self.handling -= 1
            self._open()

    def _open(self) -> None:
        """Let waiting deliveries take the slots there are now."""
        room = self._room() - self.handling
        while room > 0 and self._queued:
            opened = self._queued.popleft()
            if not opened.done():
                opened.set_result(None)
                room -= 1

    def busy(self, now: float) -> bool:
        return bool(self.count) or now - self.last < self.quiet

    def _sample(self, due: float) -> None:
        """How late this timer ran and how busy the loop was since the last one; sampled again
        while requests keep arriving."""
        now, cpu = _now(), time.thread_time()
        if self._sampler is not None:
            was, ran = self._sampled
            share = min(1.0, (cpu - ran) / max(now - was, SAMPLE))
            self.running += (share - self.running) * SMOOTHING
        self._sampled = (now, cpu)
        self.lag += (max(0.0, now - due) - self.lag) * SMOOTHING
        if now - self.last < SAMPLED_FOR:
            self._sampler = asyncio.get_running_loop().call_at(
                now + SAMPLE, self._sample, now + SAMPLE
            )
        else:
            self._sampler, self.lag, self.running = None, 0.0, 0.0

    async def make_way(self) -> None:
        """Wait while requests are arriving; under unbroken load one waiter goes per `PATIENCE`."""
        now = _now()
        if not self.busy(now):
            return
        if now - self._last_forced >= self.patience and not self._waiters:
            self._last_forced = now
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        self._wake_at(self._next_check(now))
        await turn

    def _next_check(self, now: float) -> float:
        forced = self._last_forced + self.patience
        return min(forced, self.last + self.quiet) if not self.count else forced

    def _wake_at(self, at: float) -> None:
        if self._timer is not None:
            if self._timer.when() <= at:
                return
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(at, self._release)

    def _release(self) -> None:
        self._timer = None
        now = _now()
        while self._waiters and self._waiters[0].done():  # cancelled while waiting
            self._waiters.popleft()
        if not self.busy(now):
            while self._waiters:
                turn = self._waiters.popleft()
                if not turn.done():
                    turn.set_result(None)
            return
        if now - self._last_forced >= self.patience and self._waiters:
            self._last_forced = now
            self._waiters.popleft().set_result(None)
        if self._waiters:
            self._wake_at(self._next_check(now))


def _now() -> float:
    """The event loop's clock, which its timers (`call_at`) keep."""
    return asyncio.get_running_loop().time()
