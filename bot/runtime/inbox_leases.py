"""The statements on the rows a replica leases: renew, take over, delete when handled, release.

A row is leased to the replica that wrote it and renewed while that replica lives; if it dies,
the lease lapses and any replica takes the row over (a row that killed its replica too often is
given up). A handled row is deleted; on a clean stop the rest is released to the others at once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from bot.runtime.inbox_items import TABLE, Held, Item
from bot.runtime.metrics import Metrics
from storage.db import Database

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # a delivery whose handling killed its replica this often is given up


class Leases:
    """This replica's leases on inbox rows, for the platforms it has handlers for."""

    def __init__(
        self,
        db: Database,
        metrics: Metrics,
        held: Held,
        handlers: Mapping[str, object],
        *,
        replica: str,
        lease: float,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.held = held
        self.handlers = handlers
        self.replica = replica
        self.lease = lease

    async def renew(self) -> None:
        until = datetime.now(UTC) + timedelta(seconds=self.lease)
        async with self.db.statements() as conn:
            await conn.execute(
                update(TABLE).where(TABLE.c.taken_by == self.replica).values(taken_until=until)
            )

    async def take_over(self, limit: int) -> int:
        """Take rows left unleased or whose replica stopped renewing them (it died); give up on
        poison ones. Returns how many rows were taken."""
        if not self.handlers:
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
        async with self.db.statements() as conn:
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
            self.held.hold(item)
        return len(rows)

    async def delete(self, ids: list[int]) -> None:
        async with self.db.statements() as conn:
            await conn.execute(delete(TABLE).where(TABLE.c.id.in_(ids)))

    async def release(self) -> None:
        """On a clean stop, what is left is handed to the other replicas without waiting."""
        async with self.db.statements() as conn:
            await conn.execute(
                update(TABLE)
                .where(TABLE.c.taken_by == self.replica)
                .values(taken_by="", taken_until=datetime.now(UTC) - timedelta(seconds=1))
            )
