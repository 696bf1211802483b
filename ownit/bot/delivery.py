"""Delivery: takes queued notices from the outbox to each person's platform.

Notices are written in the transaction of the change they report, so a crash never loses one;
delivery leases a batch, sends, and marks it sent (at least once: a crash between send and mark
resends after the lease). A person no platform can reach is reported to the case owner. Sends
to one conversation are paced by a rate limiter shared by all replicas (`RATES`, per channel).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import or_
from sqlmodel import col, select

from ownit.bot.messages import Message
from ownit.bot.metrics import Metrics
from ownit.storage.db import Database
from ownit.storage.shared import LocalShared, Rate, Shared
from ownit.storage.tables import Outbox, Person

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
# The platforms' documented pace per conversation: Slack about one message a second (short bursts
# allowed), Teams about seven a second. Channels not listed are not paced (the console).
RATES = {"slack": Rate(limit=1, window=1.0), "teams": Rate(limit=7, window=1.0)}
MAX_WAIT = 5.0


class Channel(Protocol):
    """One platform's way of reaching a person."""

    name: str

    def reaches(self, person: Person) -> bool: ...

    async def send(self, person: Person, msg: Message, row: Outbox) -> None: ...


class Deliverer:
    def __init__(
        self,
        *,
        db: Database,
        channels: list[Channel] | None = None,
        shared: Shared | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.channels: list[Channel] = list(channels or [])
        self.shared: Shared = shared or LocalShared()
        self.metrics = metrics
        self.wake = asyncio.Event()
        self.sent = 0

    def channel_for(self, person: Person) -> Channel | None:
        return next((c for c in self.channels if c.reaches(person)), None)

    async def drain(self, limit: int = 200) -> int:
        """Deliver what is pending now; returns how many were sent."""
        now = datetime.now(UTC)
        async with self.db.session() as s:
            q = (
                select(Outbox)
                .where(
                    col(Outbox.sent).is_(False),
                    or_(col(Outbox.claimed_until).is_(None), col(Outbox.claimed_until) < now),
                )
                .order_by(col(Outbox.id))
                .limit(limit)
            )
            if self.db.postgres:
                q = q.with_for_update(skip_locked=True)
            rows = list((await s.exec(q)).all())
            for row in rows:
                row.claimed_until = now + LEASE
                s.add(row)
            people = {
                p.id: p
                for p in (
                    await s.exec(
                        select(Person).where(col(Person.id).in_({r.person_id for r in rows}))
                    )
                ).all()
            }
        sent = 0
        for row in rows:
            person = people[row.person_id]
            channel = self.channel_for(person)
            error: str | None = None
            if channel is None:
                error = "unreachable: no platform reaches this person"
            else:
                try:
                    await self._pace(channel, person)
                    await channel.send(person, Message.from_dict(row.payload), row)
                except Exception as exc:
                    log.warning(
                        "delivery of outbox %s to %s failed: %s", row.id, person.handle, exc
                    )
                    error = f"{type(exc).__name__}: {exc}"
            await self._settle(row, error, retry=channel is not None)
            sent += error is None
            if self.metrics:
                self.metrics.notices.labels(
                    channel.name if channel else "none", "sent" if error is None else "failed"
                ).inc()
        self.sent += sent
        return sent

    async def _pace(self, channel: Channel, person: Person) -> None:
        """Wait for this conversation's turn (the limiter is shared; Redis down → no pacing)."""
        rate = RATES.get(channel.name)
        if rate is None:
            return
        wait = min(MAX_WAIT, await self.shared.reserve(f"{channel.name}:{person.id}", rate))
        if wait > 0:
            if self.metrics:
                self.metrics.rate_limited_seconds.inc(wait)
            await asyncio.sleep(wait)

    async def _settle(self, row: Outbox, error: str | None, *, retry: bool) -> None:
        async with self.db.session() as s:
            fresh = await s.get(Outbox, row.id)
            if fresh is None:
                return
            fresh.attempts += 1
            fresh.error = error
            if error is None or not retry or fresh.attempts >= MAX_ATTEMPTS:
                fresh.sent = True
            else:
                backoff = timedelta(seconds=min(300, 2**fresh.attempts))
                fresh.claimed_until = datetime.now(UTC) + backoff
            s.add(fresh)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                while await self.drain():
                    pass
            except Exception:
                log.exception("delivery failed; retrying")
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=1.0)
            except TimeoutError:
                pass
