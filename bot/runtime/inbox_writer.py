"""Writing deliveries to the inbox before they are acknowledged.

The deliveries arriving together share one INSERT (group commit) on a connection the writer
keeps; on PostgreSQL it goes through the driver itself. An acknowledgement waits for its write no
longer than `budget`: past it, the write goes on, and should it then fail the platform is told
the delivery was lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.runtime.inbox_items import TABLE, Held, Item
from bot.runtime.inbox_listener import CHANNEL, driver_connection
from bot.runtime.metrics import Metrics
from storage.db import Database
from storage.tables import Delivery, table_of

log = logging.getLogger(__name__)

BUDGET = 2.0  # seconds an acknowledgement waits for its write (Slack allows 3)

Lost = Callable[[str, dict[str, Any], Exception], Coroutine[Any, Any, None]]
Write = tuple[dict[str, Any], asyncio.Future[bool]]
# Written through the driver's own connection: SQLAlchemy's execution path (parameter
# processing, cursor adaptation, result rows) cost as much CPU per statement as asyncpg itself,
# and at the small batches of a moderate rate that was a tenth of an acknowledgement.
DELIVERY = table_of(Delivery)
_PG_INSERT = """
    INSERT INTO inbox (key, platform, kind, payload, received_at, taken_by, taken_until, attempts)
    SELECT k, p, t, d::json, $5::timestamptz, $6::text, $7::timestamptz, $8::integer
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(k, p, t, d)
    WHERE NOT EXISTS (SELECT 1 FROM delivery WHERE delivery.key = u.k)
    ON CONFLICT (key) DO NOTHING
    RETURNING id, key
"""
_PG_INSERT_NOTIFY = f"""
    WITH kept AS ({_PG_INSERT})
    SELECT id, key FROM kept, (SELECT pg_notify('{CHANNEL}', '')) AS told
"""  # the same, telling the handling processes in its own transaction


class Writer:
    """Accepts deliveries and writes them in batches; a handling process holds what it wrote."""

    def __init__(
        self,
        db: Database,
        metrics: Metrics,
        held: Held,
        losers: dict[str, Lost],
        *,
        replica: str,
        lease: float,
        handles: bool,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.held = held
        self.losers = losers
        self.replica = replica
        self.lease = lease
        self.handles = handles
        self.budget = BUDGET
        self._writes: list[Write] = []
        self._task: asyncio.Task[None] | None = None
        self._telling: set[asyncio.Task[None]] = set()
        self._conn: AsyncConnection | None = None
        self._driver: Any = None  # asyncpg's connection under `_conn` (PostgreSQL)

    def accept(
        self, platform: str, kind: str, key: str, payload: dict[str, Any]
    ) -> asyncio.Future[bool]:
        """See `Inbox.accept`."""
        row = {"key": key[:200], "platform": platform, "kind": kind, "payload": payload}
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._writes.append((row, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._write())
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
                        self.held.hold(Item(new, row["platform"], row["kind"], row["payload"], now))
                if not future.done():
                    future.set_result(new is not None)

    def _overdue(self, batch: list[Write]) -> None:
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
        """One statement for the whole batch; rows whose key is already there, waiting or
        handled (its delivery key written), are skipped: a platform's retry of what was handled
        a moment ago is acknowledged and not handled again (a model asked again, say).

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
                self._conn, self._driver = await driver_connection(self.db)
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
        done = set(
            (
                await conn.execute(
                    select(DELIVERY.c.key).where(DELIVERY.c.key.in_(r["key"] for r in rows))
                )
            )
            .scalars()
            .all()
        )
        rows = [r for r in rows if r["key"] not in done]
        if not rows:
            return {}
        stmt = (
            sqlite.insert(TABLE)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(TABLE.c.id, TABLE.c.key)
        )
        result = await conn.execute(stmt, [{**r, **lease} for r in rows])
        return {key: id_ for id_, key in result.all()}

    async def close(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                await self._conn.close()
        self._conn = self._driver = None
