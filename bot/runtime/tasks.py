"""The background loops of a process, started together and stopped together."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

STOP_WAIT = 5.0  # seconds a loop gets to finish its round before it is cancelled


@dataclass
class Background:
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def start(self, name: str, loop: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
        """Run `loop(stop)` until `stop` is set."""
        self.tasks.append(asyncio.create_task(loop(self.stop), name=name))

    async def close(self) -> None:
        """Wait for every loop to end (cancelling the ones that take too long)."""
        for task in self.tasks:
            try:
                await asyncio.wait_for(task, timeout=STOP_WAIT)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
