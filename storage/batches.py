"""Statements that each stand alone, written together when they come together.

A notice's mark that it was sent and a Slack post's record are one small statement each, one for
every ask. Run one by one, each is a round trip with the driver's whole execution around it;
run as one `executemany` of the same statement, ten cost little more than one did. So the first
goes at once, and those asked for while it is on its way wait for it and go in the next batch,
one per statement: nothing waits when the process is quiet, and under load the work shrinks.
A batch that fails is run again one statement at a time, so one bad row fails only its caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection]]
Waiting = list[tuple[dict[str, Any], asyncio.Future[None]]]


class Batches:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect
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
                    async with self._connect() as conn:
                        await conn.execute(statement, [params for params, _ in waiting])
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
                async with self._connect() as conn:
                    await conn.execute(statement, params)
            except Exception as exc:
                _settle(done, exc)
            else:
                _settle(done, None)


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():  # its caller gave up waiting: the statement ran all the same
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
