"""Statements that each stand alone, written together when they come together.

A notice's mark that it was sent and a Slack post's record are one small statement each, one for
every ask. Run one by one, each is a round trip with the driver's whole execution around it;
run as one `executemany` of the same statement, ten cost little more than one did. So the first
goes at once, and those asked for while it is on its way wait for it and go in the next batch,
one per statement: nothing waits when the process is quiet, and under load the work shrinks.
A batch that fails is run again one statement at a time, so one bad row fails only its caller.

They run on a connection kept for them, as the inbox's writer keeps its own: taking one from
the pool, setting it to run each statement alone and handing it back cost as much CPU as the
statement (about 110 µs of 230). On SQLite, which has one writer at a time, each round of
batches is a transaction of its own. A failure lets the connection go (it may be the one that
failed); the next batch takes another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from storage import driver

Connect = Callable[[], Awaitable[AsyncConnection]]
Waiting = list[tuple[dict[str, Any], asyncio.Future[None]]]


class Batches:
    """`connect` gives a connection on which each statement stands alone (PostgreSQL); with
    `rounds_commit`, one on which each round of batches is run in a transaction (SQLite)."""

    def __init__(self, connect: Connect, *, rounds_commit: bool) -> None:
        self._connect = connect
        self._rounds_commit = rounds_commit
        self._conn: AsyncConnection | None = None
        self._waiting: dict[Any, Waiting] = {}
        self._writer: asyncio.Task[None] | None = None

    def run(self, statement: Any, params: dict[str, Any]) -> Awaitable[None]:
        """Run `statement` (built once: batches are made of the same statement object) with
        `params`, on its own or with others; done when it is written."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(statement, []).append((params, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="db-batches")
        return done

    async def _write(self) -> None:
        while self._waiting:
            batches, self._waiting = self._waiting, {}
            for statement, waiting in batches.items():
                try:
                    await self._execute(statement, [params for params, _ in waiting])
                except Exception as exc:
                    if len(waiting) == 1:
                        _settle(waiting[0][1], exc)
                        continue
                    await self._one_by_one(statement, waiting)
                    continue
                for _, done in waiting:
                    _settle(done, None)

    async def _one_by_one(self, statement: Any, waiting: Waiting) -> None:
        for params, done in waiting:
            try:
                await self._execute(statement, params)
            except Exception as exc:
                _settle(done, exc)
            else:
                _settle(done, None)

    async def _execute(self, statement: Any, params: Any) -> None:
        if self._conn is None:
            self._conn = await self._connect()
        conn = self._conn
        try:
            if self._rounds_commit:
                async with conn.begin():
                    await conn.execute(statement, params)
            else:
                await driver.execute(conn, statement, params)
        except Exception:
            await self.close()
            raise

    async def close(self) -> None:
        """Hand the kept connection back (it is taken again when needed)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                await conn.close()


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():  # its caller gave up waiting: the statement ran all the same
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
