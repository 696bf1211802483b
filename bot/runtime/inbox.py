"""The inbox: what a platform delivered, kept from its acknowledgement until it is handled.

Slack wants an answer within 3 s and Teams within 15, while handling a command takes a dozen round
trips to the database. So a delivery is written here first (the deliveries arriving together share
one INSERT and one commit), acknowledged, and handled afterwards by this process's workers. The
row is leased to the replica that wrote it and renewed while that replica lives; if it dies, the
lease lapses and any replica takes the row over. Handling is idempotent (the delivery key is
written in the command's own transaction), so a row handled twice changes nothing; a handled row
is deleted.

A process that only acknowledges (`handles=False`, the web role) writes its rows unleased and
says so on PostgreSQL's `NOTIFY` channel in the same statement; the processes that handle listen
there and take such rows at once, each no more than its workers can start soon, so several share
the load. They also look every second, should a notification be lost.

Handling keeps up with arrivals: `workers` deliveries are handled at once, whatever else goes on.
An acknowledgement is cheap (its share of one INSERT), so it needs no protecting from handling
beyond that bound.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import suppress
from typing import Any

from bot.runtime.inbox_items import Held, Item
from bot.runtime.inbox_leases import Leases
from bot.runtime.inbox_upkeep import Upkeep
from bot.runtime.inbox_workers import Handled, Handler, Workers
from bot.runtime.inbox_writer import Lost, Writer
from bot.runtime.metrics import Metrics
from storage.db import Database

LEASE = 15.0  # seconds a replica holds what it wrote; renewed every third of it
WORKERS = 8


class Inbox:
    """The writer (`inbox_writer`), the workers (`inbox_workers`) and the upkeep of their leases
    (`inbox_upkeep`, `inbox_leases`) behind one face, sharing what this process holds."""

    def __init__(
        self,
        db: Database,
        metrics: Metrics | None = None,
        *,
        lease: float = LEASE,
        workers: int = WORKERS,
        handles: bool = True,
    ) -> None:
        self.db = db
        self.metrics = metrics or Metrics()
        self.handlers: dict[str, Handler] = {}
        self.losers: dict[str, Lost] = {}
        self._lease = lease
        self._handles = handles
        self._replica = uuid.uuid4().hex[:16]
        self._held = Held()
        self.metrics.inbox_waiting.set_function(lambda: len(self._held.ids))
        held, replica = self._held, self._replica
        self._writer = Writer(
            db, self.metrics, held, self.losers, replica=replica, lease=lease, handles=handles
        )
        self._leases = Leases(db, self.metrics, held, self.handlers, replica=replica, lease=lease)
        self._workers = Workers(
            self._held,
            self.handlers,
            Handled(self._leases, self._held),
            self.metrics,
            count=workers,
            low=lambda: self._upkeep.wanted(),
        )
        self._upkeep = Upkeep(db, self._leases, self._workers.room, lease=lease)

    @property
    def handles(self) -> bool:
        """Whether this process handles what it writes (False: the web role only acknowledges)."""
        return self._handles

    def starts_at_once(self) -> bool:
        """Whether what was just written here is being handled now, not queued behind others
        (an acknowledgement may then wait a moment for the answer)."""
        return self._handles and self._workers.running and self._workers.free()

    @property
    def replica(self) -> str:
        """This process's name on the rows it leases."""
        return self._replica

    @property
    def lease(self) -> float:
        return self._lease

    @property
    def workers(self) -> int:
        return self._workers.count

    @workers.setter
    def workers(self, count: int) -> None:  # before `run`
        self._workers.count = count

    @property
    def budget(self) -> float:
        """Seconds an acknowledgement waits for its write."""
        return self._writer.budget

    @budget.setter
    def budget(self, seconds: float) -> None:
        self._writer.budget = seconds

    @property
    def queue(self) -> asyncio.Queue[Item]:
        return self._held.queue

    @property
    def held(self) -> set[int]:
        """Rows queued or being handled here."""
        return self._held.ids

    def on(self, platform: str, handler: Handler, lost: Lost | None = None) -> None:
        """Handle this platform's deliveries (`handler(kind, payload, again)`) here; `lost(kind,
        payload, error)` hears of one acknowledged before it was written whose write then failed."""
        self.handlers[platform] = handler
        if lost is not None:
            self.losers[platform] = lost

    def accept(
        self, platform: str, kind: str, key: str, payload: dict[str, Any]
    ) -> asyncio.Future[bool]:
        """Keep a delivery to handle after the acknowledgement.

        The future is True once the delivery is safely written, False if one with this key is
        already there (a retry); it raises what the database raised if it could not be written.
        A database slower than `budget` doesn't hold the acknowledgement: the future turns True
        then, the write goes on, and should it fail the platform's `lost` handler is told.
        (A future, not a coroutine: no task per request; the budget is timed per batch.)
        """
        return self._writer.accept(platform, kind, key, payload)

    async def run(self, stop: asyncio.Event) -> None:
        """Work off the inbox until `stop`; then let other replicas have what is left at once."""
        self._workers.start()
        try:
            await self._upkeep.keep(stop)
        finally:
            await self.close()

    async def close(self) -> None:
        """Finish what is being handled (a few seconds at most) and release the rest."""
        if self._workers.running:
            self._upkeep.halt()
            await self._workers.stop()
            with suppress(Exception):
                await self._workers.handled.flush()
                await self._leases.release()
        await self._writer.close()
        await self._upkeep.close()

    async def settled(self) -> None:
        """Until everything held here is handled and deleted (tests, the console, shutdown)."""
        await self._held.settled()
