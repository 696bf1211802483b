"""Hearing of rows written unleased, on PostgreSQL's `NOTIFY` channel.

A process that only acknowledges says so in the INSERT's own statement; the handling processes
listen, so they take such rows at once instead of at their next look.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database

CHANNEL = "ownit_inbox"  # PostgreSQL NOTIFY channel: unleased rows were written


async def driver_connection(db: Database) -> tuple[AsyncConnection, Any]:
    """A pooled connection held for good, and asyncpg's connection under it (PostgreSQL)."""
    conn = await db.engine.connect()
    try:
        return conn, (await conn.get_raw_connection()).driver_connection
    except Exception:
        await conn.close()
        raise


class Listener:
    """`LISTEN` on a connection of its own, calling `heard` for each notification."""

    def __init__(self, db: Database, heard: Callable[[], None]) -> None:
        self.db = db
        self._heard = heard
        self._conn: AsyncConnection | None = None
        self._ear: Any = None  # the driver's connection under it, to see it was lost

    async def listen(self) -> None:
        """Listen if not listening yet (PostgreSQL only), reconnecting after a loss."""
        if not self.db.postgres or (self._ear is not None and not self._ear.is_closed()):
            return
        await self.close()
        conn, ear = await driver_connection(self.db)
        try:
            await ear.add_listener(CHANNEL, self._notified)
        except Exception:
            await conn.close()
            raise
        self._conn, self._ear = conn, ear

    def _notified(self, *_: object) -> None:
        self._heard()

    async def close(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                await self._conn.close()
        self._conn = self._ear = None
