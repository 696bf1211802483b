"""The inbox's upkeep: renewing this replica's leases and taking rows others left.

It renews a few times per lease, and takes lapsed and unleased rows when told of them (the
writer's `NOTIFY`, the workers running low) and every `POLL` seconds on PostgreSQL should a
notification go astray; never more than the workers can start soon, so that other processes get
their share.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress

from bot.runtime.inbox_leases import Leases
from bot.runtime.inbox_listener import Listener
from storage.db import Database

log = logging.getLogger(__name__)

TAKE = 200  # rows taken over per statement
POLL = 1.0  # seconds between looks for unleased rows when no notification comes


class Upkeep:
    """The loop that keeps leases and takes rows; `room()` says how many the workers want."""

    def __init__(
        self, db: Database, leases: Leases, room: Callable[[], int], *, lease: float
    ) -> None:
        self.db = db
        self.leases = leases
        self.room = room
        self.lease = lease
        self.arrived = asyncio.Event()  # unleased rows may be waiting: take some now
        self.more = False  # the last take was cut short by the queue's room
        self.listener = Listener(db, self.arrived.set)
        self._halted = False

    def wanted(self) -> None:
        """The workers' queue runs low: if rows were left behind for want of room, take more."""
        if self.more:
            self.more = False
            self.arrived.set()

    def halt(self) -> None:
        """Stop the loop now, even while it waits out its poll."""
        self._halted = True
        self.arrived.set()

    async def keep(self, stop: asyncio.Event) -> None:
        """Until `stop` (or `halt`)."""
        self._halted = False
        waker = asyncio.create_task(self._wake_on(stop), name="inbox-stop")
        try:
            await self._loop(stop)
        finally:
            waker.cancel()
            await asyncio.gather(waker, return_exceptions=True)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.arrived.set()

    async def _loop(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        renew_at = 0.0
        while not stop.is_set() and not self._halted:
            self.arrived.clear()
            try:
                if loop.time() >= renew_at:
                    await self.leases.renew()
                    renew_at = loop.time() + self.lease / 3
                await self.listener.listen()
                await self._take_more()
            except Exception as exc:
                log.warning("inbox upkeep failed (%s); trying again shortly", exc)
                renew_at = max(renew_at, loop.time() + POLL)  # the database is down: not a spin
            wait = renew_at - loop.time()
            if self.db.postgres:
                wait = min(wait, POLL)
            with suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout=max(wait, 0.01))

    async def _take_more(self) -> None:
        """Take lapsed rows while there is room; when the queue runs low again, the workers ask
        for more (`wanted`)."""
        while True:
            room = min(TAKE, self.room())
            if room <= 0:
                self.more = True
                return
            taken = await self.leases.take_over(room)
            self.more = taken == room
            if not self.more:
                return

    async def close(self) -> None:
        await self.listener.close()
