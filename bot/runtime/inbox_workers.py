"""The inbox's workers: each takes a held row and hands it to its platform.

`count` workers handle at most `count` deliveries at once: that bound is all the protection
acknowledgements need, since an acknowledgement is one group-committed INSERT and handling is a
couple of short transactions. Handling is idempotent (the delivery key is written in the
command's own transaction), so a row handled twice changes nothing. A handled row is deleted in
that transaction too when it wrote a delivery key (`storage.inbox_row`), else in batches, in the
background.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from bot import log_context
from bot.runtime.inbox_items import Held, Item
from bot.runtime.inbox_leases import Leases
from bot.runtime.metrics import Metrics
from storage import inbox_row

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any], bool], Awaitable[None]]


class Handled:
    """Handled rows, deleted in batches; one left behind by a crash is only handled again."""

    def __init__(self, leases: Leases, held: Held) -> None:
        self.leases = leases
        self.held = held
        self._done: list[int] = []
        self._deleter: asyncio.Task[None] | None = None

    def add(self, id_: int) -> None:
        self._done.append(id_)
        if self._deleter is None or self._deleter.done():
            self._deleter = asyncio.get_running_loop().create_task(self._delete_loop())

    async def _delete_loop(self) -> None:
        while self._done:
            try:
                await self.flush()
            except Exception as exc:
                log.warning("inbox: deleting handled rows failed (%s); retrying", exc)
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        """Delete what is handled now; the rows are let go once deleted."""
        batch, self._done = self._done, []
        try:
            if batch:
                await self.leases.delete(batch)
        except Exception:
            self._done = batch + self._done
            raise
        self.held.let_go(batch)


class Workers:
    """`count` tasks handling held rows; `low()` is called when the queue runs short of them."""

    def __init__(
        self,
        held: Held,
        handlers: dict[str, Handler],
        handled: Handled,
        metrics: Metrics,
        *,
        count: int,
        low: Callable[[], None],
    ) -> None:
        self.held = held
        self.handlers = handlers
        self.handled = handled
        self.metrics = metrics
        self.count = count
        self.low = low
        self.running = False
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def free(self) -> bool:
        """Whether each row queued now starts at once (a worker is free for it)."""
        return self._busy + self.held.queue.qsize() <= self.count

    def room(self) -> int:
        """How many more rows the workers can start soon."""
        return 2 * self.count - self.held.queue.qsize()

    def start(self) -> None:
        self.running = True
        self._tasks = [
            asyncio.create_task(self._work(), name=f"inbox-{i}") for i in range(self.count)
        ]

    async def stop(self) -> None:
        """Finish what is being handled (a few seconds at most); what is queued stays held."""
        self.running = False
        tasks, self._tasks = self._tasks, []
        with suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self) -> None:
        queue = self.held.queue
        while True:
            item = await queue.get()
            if queue.qsize() < self.count:
                self.low()
            if not self.running:
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
        with log_context.handling(f"inbox-{item.id}"):
            await self._handle_item(item)

    async def _handle_item(self, item: Item) -> None:
        waited = (datetime.now(UTC) - item.received).total_seconds()
        self.metrics.inbox_wait.observe(max(0.0, waited))
        handler = self.handlers.get(item.platform)
        outcome = "ok"
        row = inbox_row.Handling(item.id)
        token = inbox_row.handling.set(row)
        try:
            if handler is None:
                log.error("inbox: no handler for %s; dropped %s", item.platform, item.id)
                outcome = "unhandled"
            else:
                await handler(item.kind, item.payload, item.again)
        except Exception:
            log.exception("inbox: handling %s %s failed", item.platform, item.kind)
            outcome = "failed"
        finally:
            inbox_row.handling.reset(token)
        self.metrics.inbox_handled.labels(outcome).inc()
        if row.deleted:  # with the command's change, in its transaction
            self.held.let_go([item.id])
        else:
            self.handled.add(item.id)
