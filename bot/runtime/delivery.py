"""Delivery: takes queued notices from the outbox to each person's platform.

Notices are written in the transaction of the change they report, so a crash never loses one;
delivery leases a batch, sends, and marks it sent (at least once: a crash between send and mark
resends after the lease). While `run` runs, the notices this process writes are written leased
to it and handed to it once committed (`outbox.hand_over`): they are sent with no lease, and a
lease is taken only when another process may have written some, or now and then for retries
and for what a process that died left. A person no platform can reach is reported to the case
owner, with what to do (a channel raises `Unreachable` to say why), and the case's timeline
notes it. Sends to one conversation are paced by a rate limiter shared by all replicas (`RATES`,
per channel): each person's notices wait in a lane of their own, served by a task of its own, so
a conversation waiting for its turn holds up no one else's however many are waiting, and only
the sends themselves are bounded (`SENDING` side by side). A replica told to stop sends nothing
more: what it leased and did not send goes back at once, for the next replica (or its own
restart) to send, instead of waiting out the lease.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Protocol

from bot.clock import Clock, RealClock
from bot.messages import Message
from bot.runtime import outbox
from bot.runtime.metrics import Metrics
from bot.runtime.pacing import wait_turn
from bot.runtime.unreachable import report_unreachable
from storage.db import Database
from storage.shared import LocalShared, Shared
from storage.states import OutboxStatus
from storage.tables import Person

log = logging.getLogger(__name__)

SENDING = 32  # notices sent side by side (a conversation waiting for its turn takes no place)
LEASED = 200  # notices leased at once
WRITTEN_ORDER = attrgetter("id")  # notices go in the order they were written


class Unreachable(Exception):
    """Raised by a channel that cannot reach this person yet; the message says what to do."""


class Channel(Protocol):
    """One platform's way of reaching a person. `send` may return what to record of the sending
    (`outbox.Record`, an UPDATE); it is written with the mark that the notice was sent."""

    name: str

    def reaches(self, person: Person) -> bool: ...

    async def send(
        self, person: Person, msg: Message, row: outbox.Notice
    ) -> outbox.Record | None: ...


async def link_somewhere(channels: list[Channel], person: Person) -> Person | None:
    """Someone no channel reaches yet: a channel that can find them (by e-mail: `link`, where it
    has one) links them now, rather than their notice being reported unreachable. The person
    linked is a copy (the one given is the cache's, shared and never changed)."""
    for channel in channels:
        link = getattr(channel, "link", None)
        if link is None:
            continue
        copy = Person(**person.model_dump())
        if await link(copy):
            return copy
    return None


@dataclass
class Lane:
    """One person's notices waiting to be sent, in the order they were written."""

    person: Person
    rows: list[outbox.Notice] = field(default_factory=list)


class Deliverer:
    """Drains the outbox through the channels (`outbox` leases and records, `pacing` keeps each
    conversation's pace, `unreachable` tells the owner); `run` drains whenever woken."""

    def __init__(
        self,
        *,
        db: Database,
        channels: list[Channel] | None = None,
        shared: Shared | None = None,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.clock: Clock = clock or RealClock()
        self.channels: list[Channel] = list(channels or [])
        self.shared: Shared = shared or LocalShared()
        self.metrics = metrics
        self.wake = asyncio.Event()
        self.stop = asyncio.Event()  # `run`'s: set, the notices not sent yet are handed back
        self.sent = 0
        self.full = False  # the last drain leased as many as it asked for: more may be waiting
        self._handed: list[outbox.Notice] = []  # written here, leased to this process
        self._look = False  # another process may have written notices: lease them
        # One drain at a time in a process: a second caller (settle, in tests and the console)
        # waits for the one in flight instead of finding its rows leased and calling it done.
        self._draining = asyncio.Lock()
        self._lanes: dict[int, Lane] = {}  # by person: each is served by a task of its own
        self._serving: set[asyncio.Task[None]] = set()
        self._queued: set[int] = set()  # the notices in a lane
        self._idle = asyncio.Event()  # set while no lane has anything left to send
        self._idle.set()
        self._sending = asyncio.Semaphore(SENDING)
        self._done = 0  # notices sent or reported unreachable, all told

    def channels_for(self, person: Person, prefer: str | None = None) -> list[Channel]:
        """Every channel that may reach the person, the case's own platform first; the next is
        tried if one can't."""
        return sorted(
            (c for c in self.channels if c.reaches(person)), key=lambda c: c.name != prefer
        )

    def hand(self, rows: list[outbox.Notice]) -> None:
        """Notices this process wrote, committed leased to it: the next drain sends them."""
        self._handed.extend(rows)
        self.wake.set()

    def look(self) -> None:
        """Another process changed something (it may have written notices): the next drain
        leases."""
        self._look = True
        self.wake.set()

    async def drain(self, limit: int = LEASED, *, lease: bool = True) -> int:
        """Deliver what is pending now (`lease=False`: only what was handed over) and wait until
        every conversation's notices are out; returns how many were sent or reported as
        unreachable meanwhile."""
        async with self._draining:
            before = self._done
            await self._take(limit, lease)
            await self._idle.wait()
            return self._done - before

    async def _take(self, limit: int, lease: bool) -> None:
        """Put what was handed over, and what a lease finds (`lease`), in their people's lanes."""
        handed = list(self._handed)
        leased = await outbox.lease(self.db, limit) if lease else []
        self.full = len(leased) >= limit
        # A lease that ran out while its notice waited in a lane leases it again: it is queued once.
        rows = [row for row in handed + leased if row.id not in self._queued]
        people = await outbox.people(self.db, {row.person_id for row in rows}) if rows else {}
        del self._handed[: len(handed)]  # taken (kept for the next drain had reading failed)
        for row in sorted(rows, key=WRITTEN_ORDER):
            if (person := people.get(row.person_id)) is None:
                continue
            self._queued.add(row.id)
            lane = self._lanes.get(row.person_id)
            if lane is None:
                lane = self._lanes[row.person_id] = Lane(person)
                self._idle.clear()
                task = asyncio.create_task(self._serve(row.person_id, lane))
                self._serving.add(task)
                task.add_done_callback(self._serving.discard)
            lane.person = person
            bisect.insort(lane.rows, row, key=WRITTEN_ORDER)

    async def _serve(self, person_id: int, lane: Lane) -> None:
        """Send one person's notices in order, each at their conversation's pace; told to stop,
        hand back what is left at once (for the next replica, or this one's restart)."""
        left: list[int] = []
        try:
            while lane.rows:
                row = lane.rows.pop(0)
                try:
                    outcome = await self._deliver(row, lane.person)
                except Exception:  # left leased: sent again once the lease runs out
                    log.exception("delivery of outbox %s failed; it is retried later", row.id)
                    outcome = (0, 0)
                if outcome is None:  # stopping
                    left = [row.id, *(r.id for r in lane.rows)]
                    break
                self._queued.discard(row.id)
                self.sent += outcome[0]
                self._done += outcome[0] + outcome[1]
        finally:
            self._queued.difference_update(left or [r.id for r in lane.rows])
            del self._lanes[person_id]  # what comes for them from now on starts a lane anew
        if left:
            try:
                await outbox.hand_back(self.db, left)
            except Exception:  # they are sent once their lease runs out
                log.exception("handing back %d notices failed", len(left))
        if not self._lanes:
            self._idle.set()
        if self.full:  # more were waiting when last leased
            self.wake.set()

    async def _deliver(self, row: outbox.Notice, person: Person) -> tuple[int, int] | None:
        """Send one notice through the first channel that can reach the person: (sent, reported
        unreachable), or None when stopping came first."""
        if self.stop.is_set():
            return None
        msg = Message.from_dict(row.payload)
        channel: Channel | None = None
        status = OutboxStatus.UNREACHABLE  # until a channel takes it, or fails otherwise
        error: str | None = "unreachable: no platform reaches this person"
        hints: list[str] = []
        record: outbox.Record | None = None
        candidates = self.channels_for(person, row.home)
        if not candidates and person.email:
            linked = await link_somewhere(self.channels, person)
            if linked is not None:
                person = linked
                candidates = self.channels_for(person, row.home)
        for candidate in candidates:
            channel = candidate
            try:
                if not await wait_turn(
                    self.shared, self.metrics, candidate.name, person.id, self.stop
                ):
                    return None
                async with self._sending:
                    record = await candidate.send(person, msg, row)
                status, error = OutboxStatus.SENT, None
                break
            except Unreachable as exc:
                hints.append(str(exc))
                status, error = OutboxStatus.UNREACHABLE, f"unreachable: {exc}"
            except Exception as exc:
                log.warning("delivery of outbox %s to %s failed: %s", row.id, person.handle, exc)
                status, error = OutboxStatus.RETRYING, f"{type(exc).__name__}: {exc}"
                break
        reported = 0
        if status is OutboxStatus.UNREACHABLE:
            reported = await report_unreachable(self.db, self.clock, row, person, msg, hints)
        await outbox.settle(self.db, row, status, error, record=record)
        if self.metrics:
            self.metrics.notices.labels(
                channel.name if channel else "none",
                "sent" if status is OutboxStatus.SENT else "failed",
            ).inc()
        return int(status is OutboxStatus.SENT), reported

    async def run(self, stop: asyncio.Event) -> None:
        self.stop = stop
        outbox.hand_over(self.db, self.hand)
        try:
            await self._run(stop)
        finally:
            outbox.hand_over(self.db, None)
            await self._idle.wait()  # told to stop, each lane hands back what it had left
            if self._handed:  # committed as it stopped: anyone may send them now
                left, self._handed = self._handed, []
                await outbox.hand_back(self.db, [row.id for row in left])

    async def _run(self, stop: asyncio.Event) -> None:
        lease = True  # at the start, after a second without a wake, and while more are waiting
        while not stop.is_set():
            try:
                self.wake.clear()  # before taking: a notice written meanwhile wakes it again
                lease, self._look = lease or self._look, False
                # Leased only while the lanes hold less than a batch, so that a leased notice
                # is sent well within its lease; a lane that empties wakes this loop.
                leasing = lease and len(self._queued) < LEASED
                await self._take(LEASED, leasing)
                lease = self.full if leasing else lease
            except Exception:
                log.exception("delivery failed; retrying")
            if stop.is_set():
                return
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=1.0)
            except TimeoutError:
                lease = True
