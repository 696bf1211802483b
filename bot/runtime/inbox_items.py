"""An inbox row as this process holds it, and the rows it holds until they are handled.

The writer (rows it leased to itself) and the take-over (lapsed rows) both hand rows here; the
workers take them from the queue; a row deleted once handled is let go, and when none is left the
inbox is settled (tests, the console and shutdown wait for that).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.tables import InboxItem, table_of

TABLE = table_of(InboxItem)


@dataclass(frozen=True)
class Item:
    id: int
    platform: str
    kind: str
    payload: dict[str, Any]
    received: datetime
    again: bool = False  # taken over from a replica that died: perhaps handled, not answered


class Held:
    """The rows queued or being handled here (by id), and the queue the workers take them from."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.ids: set[int] = set()
        self._settled = asyncio.Event()
        self._settled.set()

    def hold(self, item: Item) -> None:
        if item.id in self.ids:
            return
        self.ids.add(item.id)
        self._settled.clear()
        self.queue.put_nowait(item)

    def let_go(self, ids: list[int]) -> None:
        """These rows are handled and deleted."""
        self.ids.difference_update(ids)
        if not self.ids:
            self._settled.set()

    async def settled(self) -> None:
        await self._settled.wait()
