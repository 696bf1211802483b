"""The one clock of the system.

Services never read the time themselves: they are handed `now`. The real clock is the wall clock;
the simulated clock is a row in the database, so every process sharing the database sees the same
time and a test or a demo can move it (`ownit clock advance 3h`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from storage.db import Database
from storage.tables import ClockState


class Clock(Protocol):
    simulated: bool

    async def now(self) -> datetime: ...


class RealClock:
    simulated = False

    async def now(self) -> datetime:
        return datetime.now(UTC)


class SimClock:
    """A clock that moves only when told to; its time lives in the `clock` table."""

    simulated = True

    def __init__(self, db: Database, start: datetime | None = None) -> None:
        self.db = db
        self.start = start

    async def now(self) -> datetime:
        async with self.db.session() as s:
            row = await s.get(ClockState, 1)
            if row is None:
                start = self.start or datetime.now(UTC).replace(second=0, microsecond=0)
                row = ClockState(id=1, now=start)
                s.add(row)
            return row.now

    async def peek(self) -> datetime | None:
        """The simulated time, or None when nothing has started it yet (`ownit clock show`)."""
        async with self.db.reader() as s:
            row = await s.get(ClockState, 1)
            return row.now if row else None

    async def set(self, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        async with self.db.session() as s:
            row = await s.get(ClockState, 1, with_for_update=True)
            if row is None:
                s.add(ClockState(id=1, now=at.astimezone(UTC)))
            else:
                if at < row.now:
                    raise ValueError("the simulated clock only moves forward")
                row.now = at.astimezone(UTC)
        return at.astimezone(UTC)

    async def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the simulated clock only moves forward")
        return await self.set(await self.now() + delta)
