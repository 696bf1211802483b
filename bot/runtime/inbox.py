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

Background work gives way to acknowledgements (`Arrivals`): while requests are arriving it waits,
starting one piece every `PATIENCE` seconds at least, so a burst is acknowledged first and worked
off after; while they keep coming, one delivery is handled at a time, not one per worker; and
when the loop is strained (its timers late, or itself running most of the time), a piece waits
for a real pause or goes once a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.runtime.arrivals import Arrivals
from bot.runtime.metrics import Metrics
from storage.db import Database
from storage.tables import InboxItem

log = logging.getLogger(__name__)

BUDGET = 2.0  # seconds an acknowledgement waits for its write (Slack allows 3)
LEASE = 15.0  # seconds a replica holds what it wrote; renewed every third of it
MAX_ATTEMPTS = 5  # a delivery whose handling killed its replica this often is given up
WORKERS = 8
TAKE = 200  # rows taken over per statement
POLL = 1.0  # seconds between looks for unleased rows when no notification comes
CHANNEL = "ownit_inbox"  # PostgreSQL NOTIFY channel: unleased rows were written

Handler = Callable[[str, dict[str, Any], bool], Awaitable[None]]
Lost = Callable[[str, dict[str, Any], Exception], Coroutine[Any, Any, None]]
TABLE = InboxItem.__table__  # type: ignore[attr-defined]
# Written through the driver's own connection: SQLAlchemy's execution path (parameter
# processing, cursor adaptation, result rows) cost as much CPU per statement as asyncpg itself,
# and at the small batches of a moderate rate that was a tenth of an acknowledgement.
_PG_INSERT = """
    INSERT INTO inbox (key, platform, kind, payload, received_at, taken_by, taken_until, attempts)
    SELECT k, p, t, d::json, $5::timestamptz, $6::text, $7::timestamptz, $8::integer
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(k, p, t, d)
    ON CONFLICT (key) DO NOTHING
    RETURNING id, key
"""
_PG_INSERT_NOTIFY = f"""
    WITH kept AS ({_PG_INSERT})
    SELECT id, key FROM kept, (SELECT pg_notify('{CHANNEL}', '')) AS told
"""  # the same, telling the handling processes in its own transaction


@dataclass(frozen=True)
class Item:
    id: int
    platform: str
    kind: str
    payload: dict[str, Any]
    received: datetime
    again: bool = False  # taken over from a replica that died: perhaps handled, not answered


class Inbox:
    def __init__(
        self,
        db: Database,
        metrics: Metrics | None = None,
        *,
        lease: float = LEASE,
        workers: int = WORKERS,
        arrivals: Arrivals | None = None,
        handles: bool = True,
    ) -> None:
        self.db = db
        self.handles = handles
        self.arrivals = arrivals or Arrivals()
        self.metrics = metrics or Metrics()
        self.lease = lease
        self.workers = workers
        self.replica = uuid.uuid4().hex[:16]
        self.handlers: dict[str, Handler] = {}
        self.losers: dict[str, Lost] = {}
        self.budget = BUDGET
        self._telling: set[asyncio.Task[None]] = set()
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.held: set[int] = set()  # rows queued or being handled here
        self.metrics.inbox_waiting.set_function(lambda: len(self.held))
        self._writes: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None
        self._driver: Any = None  # asyncpg's connection under `_conn` (PostgreSQL)
        self._done: list[int] = []
        self._deleter: asyncio.Task[None] | None = None
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._running = False
        self._tasks: list[asyncio.Task[None]] = []
        self._settled = asyncio.Event()
        self._settled.set()
        self._arrived = asyncio.Event()  # unleased rows may be waiting: take some now
        self._more = False  # the last take was cut short by the queue's room
        self._listener: AsyncConnection | None = None  # hears of unleased rows (PostgreSQL)
        self._ear: Any = None  # the driver's connection under it, to see it was lost

    def on(self, platform: str, handler: Handler, lost: Lost | None = None) -> None:
        """Handle this platform's deliveries (`handler(kind, payload, again)`) here; `lost(kind,
        payload, error)` hears of one acknowledged before it was written whose write then failed."""
        self.handlers[platform] = handler
        if lost is not None:
            self.losers[platform] = lost

    # ----------------------------------------------------------------------- acknowledging

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
        row = {"key": key[:200], "platform": platform, "kind": kind, "payload": payload}
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._writes.append((row, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write())
        return future

    async def _write(self) -> None:
        """Group commit: whatever arrived while the last INSERT ran goes in the next one."""
        loop = asyncio.get_running_loop()
        while self._writes:
            batch, self._writes = self._writes, []
            rows = list({row["key"]: row for row, _ in batch}.values())
            now = datetime.now(UTC)
            overdue = loop.call_later(self.budget, self._overdue, batch)
            try:
                ids = await self._insert(rows, now)
            except Exception as exc:
                for row, future in batch:
                    if future.done():
                        self._lose(row, exc)
                    else:
                        future.set_exception(exc)
                continue
            finally:
                overdue.cancel()
            for row, future in batch:
                new = ids.pop(row["key"], None)
                if new is not None:
                    self.metrics.inbox_accepted.labels(row["platform"]).inc()
                    if self.handles:
                        self._hold(Item(new, row["platform"], row["kind"], row["payload"], now))
                if not future.done():
                    future.set_result(new is not None)

    def _overdue(self, batch: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> None:
        """The write outlasts the budget: acknowledge this batch and what waits behind it."""
        waiting = [f for _, f in batch + self._writes if not f.done()]
        log.warning("the inbox write is slow; acknowledging %d before they are kept", len(waiting))
        for future in waiting:
            future.set_result(True)

    def _lose(self, row: dict[str, Any], exc: Exception) -> None:
        platform, kind = row["platform"], row["kind"]
        log.warning("a %s %s acknowledged before it was kept is lost (%s)", platform, kind, exc)
        lost = self.losers.get(row["platform"])
        if lost is not None:
            task = asyncio.get_running_loop().create_task(lost(row["kind"], row["payload"], exc))
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)

    async def _insert(self, rows: list[dict[str, Any]], now: datetime) -> dict[str, int]:
        """One statement for the whole batch; rows whose key is already there are skipped.

        A handling process leases its rows to itself; one that only acknowledges leaves them
        unowned and lapsed by a whole lease (so a worker whose clock is a little behind sees them
        so too), for whichever process handles them first.
        """
        mine = self.handles
        lease = {
            "received_at": now,
            "taken_by": self.replica if mine else "",
            "taken_until": now + timedelta(seconds=self.lease if mine else -self.lease),
            "attempts": 1 if mine else 0,
        }
        if self._conn is None:  # its own connection: no pool checkout (and ping) per batch
            if self.db.postgres:
                self._conn, self._driver = await self._driver_connection()
            else:
                self._conn = await self.db.engine.connect()
        conn = self._conn
        try:
            if self.db.postgres:
                return await self._insert_pg(rows, lease)
            async with conn.begin():
                return await self._insert_sqlite(conn, rows, lease)
        except Exception:
            self._conn = self._driver = None
            with suppress(Exception):
                if self.db.postgres:  # the driver's own error: SQLAlchemy can't tell if it died
                    await conn.invalidate()
                await conn.close()
            raise

    async def _driver_connection(self) -> tuple[AsyncConnection, Any]:
        """A pooled connection held for good, and asyncpg's connection under it (PostgreSQL)."""
        conn = await self.db.engine.connect()
        try:
            return conn, (await conn.get_raw_connection()).driver_connection
        except Exception:
            await conn.close()
            raise

    async def _insert_pg(self, rows: list[dict[str, Any]], lease: dict[str, Any]) -> dict[str, int]:
        """Column arrays, one statement in its own transaction (no BEGIN/COMMIT trips)."""
        found = await self._driver.fetch(
            _PG_INSERT if self.handles else _PG_INSERT_NOTIFY,
            [r["key"] for r in rows],
            [r["platform"] for r in rows],
            [r["kind"] for r in rows],
            [json.dumps(r["payload"]) for r in rows],
            lease["received_at"],
            lease["taken_by"],
            lease["taken_until"],
            lease["attempts"],
        )
        return {key: id_ for id_, key in found}

    async def _insert_sqlite(
        self, conn: AsyncConnection, rows: list[dict[str, Any]], lease: dict[str, Any]
    ) -> dict[str, int]:
        stmt = (
            sqlite.insert(TABLE)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(TABLE.c.id, TABLE.c.key)
        )
        result = await conn.execute(stmt, [{**r, **lease} for r in rows])
        return {key: id_ for id_, key in result.all()}

    def _hold(self, item: Item) -> None:
        if item.id in self.held:
            return
        self.held.add(item.id)
        self._settled.clear()
        self.queue.put_nowait(item)

    # ----------------------------------------------------------------------- handling

    async def run(self, stop: asyncio.Event) -> None:
        """Work off the inbox until `stop`; then let other replicas have what is left at once."""
        self._running = True
        self._tasks = [
            asyncio.create_task(self._work(), name=f"inbox-{i}") for i in range(self.workers)
        ]
        self._tasks.append(asyncio.create_task(self._wake_on(stop), name="inbox-stop"))
        try:
            await self._keep(stop)
        finally:
            await self.close()

    async def close(self) -> None:
        """Finish what is being handled (a few seconds at most) and release the rest."""
        if self._running:
            self._running = False
            self._arrived.set()  # the upkeep loop may be waiting out its poll: it stops now
            tasks, self._tasks = self._tasks, []
            with suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=5)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with suppress(Exception):
                await self._delete_done()
                await self._release()
        for conn in (self._conn, self._listener):
            if conn is not None:
                with suppress(Exception):
                    await conn.close()
        self._conn = self._driver = self._listener = self._ear = None

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._arrived.set()

    async def _keep(self, stop: asyncio.Event) -> None:
        """Renew this replica's leases a few times per lease; take lapsed and unleased rows when
        told of them, and every `POLL` seconds on PostgreSQL should a notification go astray."""
        loop = asyncio.get_running_loop()
        renew_at = 0.0
        while not stop.is_set() and self._running:
            self._arrived.clear()
            try:
                if loop.time() >= renew_at:
                    await self._renew()
                    renew_at = loop.time() + self.lease / 3
                await self._listen()
                await self._take_more()
            except Exception as exc:
                log.warning("inbox upkeep failed (%s); trying again shortly", exc)
                renew_at = max(renew_at, loop.time() + POLL)  # the database is down: not a spin
            wait = renew_at - loop.time()
            if self.db.postgres:
                wait = min(wait, POLL)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=max(wait, 0.01))

    async def _listen(self) -> None:
        """Hear of rows written unleased (PostgreSQL `LISTEN`), reconnecting after a loss."""
        if not self.db.postgres or (self._ear is not None and not self._ear.is_closed()):
            return
        if self._listener is not None:
            with suppress(Exception):
                await self._listener.close()
        self._listener = self._ear = None
        conn, ear = await self._driver_connection()
        try:
            await ear.add_listener(CHANNEL, self._heard)
        except Exception:
            await conn.close()
            raise
        self._listener, self._ear = conn, ear

    def _heard(self, *_: object) -> None:
        self._arrived.set()

    async def _take_more(self) -> None:
        """Take lapsed rows, no more than the workers can start soon, so that other processes
        get their share; when the queue runs low again, the workers ask for more."""
        while True:
            room = min(TAKE, 2 * self.workers - self.queue.qsize())
            if room <= 0:
                self._more = True
                return
            taken = await self._take_over(room)
            self._more = taken == room
            if not self._more:
                return

    async def _renew(self) -> None:
        until = datetime.now(UTC) + timedelta(seconds=self.lease)
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(TABLE).where(TABLE.c.taken_by == self.replica).values(taken_until=until)
            )

    async def _take_over(self, limit: int) -> int:
        """Take rows left unleased or whose replica stopped renewing them (it died); give up on
        poison ones."""
        if not self.handlers or not self.workers:
            return 0
        now = datetime.now(UTC)
        lapsed = (
            select(TABLE.c.id)
            .where(TABLE.c.taken_until < now, TABLE.c.platform.in_(list(self.handlers)))
            .order_by(TABLE.c.id)
            .limit(limit)
        )
        if self.db.postgres:
            lapsed = lapsed.with_for_update(skip_locked=True)
        stmt = (
            update(TABLE)
            .where(TABLE.c.id.in_(lapsed.scalar_subquery()))
            .values(
                taken_by=self.replica,
                taken_until=now + timedelta(seconds=self.lease),
                attempts=TABLE.c.attempts + 1,
            )
            .returning(
                TABLE.c.id,
                TABLE.c.key,
                TABLE.c.platform,
                TABLE.c.kind,
                TABLE.c.payload,
                TABLE.c.received_at,
                TABLE.c.attempts,
            )
        )
        async with self.db.engine.begin() as conn:
            rows = (await conn.execute(stmt)).all()
            spoiled = [r.id for r in rows if r.attempts > MAX_ATTEMPTS]
            if spoiled:
                await conn.execute(delete(TABLE).where(TABLE.c.id.in_(spoiled)))
        for r in sorted(rows, key=lambda r: r.id):
            if r.attempts > MAX_ATTEMPTS:
                log.error("inbox: gave up on %s after %s attempts", r.key, r.attempts - 1)
                self.metrics.inbox_handled.labels("abandoned").inc()
                continue
            if r.attempts > 1:  # not a row an acknowledging process left for us
                log.info("inbox: taking over %s (attempt %s)", r.key, r.attempts)
                self.metrics.inbox_taken_over.inc()
            item = Item(r.id, r.platform, r.kind, r.payload, r.received_at, r.attempts > 1)
            self._hold(item)
        return len(rows)

    async def _work(self) -> None:
        while True:
            item = await self.queue.get()
            if self._more and self.queue.qsize() < self.workers:
                self._more = False
                self._arrived.set()
            async with self.arrivals.slot():
                if not self._running:
                    return
                self._busy += 1
                self._idle.clear()
                try:
                    await self._handle(item)
                finally:
                    self._busy -= 1
                    if not self._busy:
                        self._idle.set()

    async def _handle(self, item: Item) -> None:
        waited = (datetime.now(UTC) - item.received).total_seconds()
        self.metrics.inbox_wait.observe(max(0.0, waited))
        handler = self.handlers.get(item.platform)
        outcome = "ok"
        try:
            if handler is None:
                log.error("inbox: no handler for %s; dropped %s", item.platform, item.id)
                outcome = "unhandled"
            else:
                await handler(item.kind, item.payload, item.again)
        except Exception:
            log.exception("inbox: handling %s %s failed", item.platform, item.kind)
            outcome = "failed"
        self.metrics.inbox_handled.labels(outcome).inc()
        self._done.append(item.id)
        if self._deleter is None or self._deleter.done():
            self._deleter = asyncio.get_running_loop().create_task(self._delete_loop())

    async def _delete_loop(self) -> None:
        """Handled rows go in batches; one left behind by a crash is only handled again."""
        while self._done:
            try:
                await self._delete_done()
            except Exception as exc:
                log.warning("inbox: deleting handled rows failed (%s); retrying", exc)
                await asyncio.sleep(1.0)

    async def _delete_done(self) -> None:
        batch, self._done = self._done, []
        try:
            if batch:
                async with self.db.engine.begin() as conn:
                    await conn.execute(delete(TABLE).where(TABLE.c.id.in_(batch)))
        except Exception:
            self._done = batch + self._done
            raise
        self.held.difference_update(batch)
        if not self.held:
            self._settled.set()

    async def _release(self) -> None:
        """On a clean stop, what is left is handed to the other replicas without waiting."""
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(TABLE)
                .where(TABLE.c.taken_by == self.replica)
                .values(taken_by="", taken_until=datetime.now(UTC) - timedelta(seconds=1))
            )

    async def settled(self) -> None:
        """Until everything held here is handled and deleted (tests, the console, shutdown)."""
        await self._settled.wait()
