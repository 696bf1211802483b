"""The outbox's rows as delivery leases and records them.

A batch is leased (`LEASE`) before it is sent, so replicas never send the same notice side by
side; a crash between send and record resends it after the lease (at least once). A failed try is
retried after a backoff, up to `MAX_ATTEMPTS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, select, update

from storage.db import Database
from storage.states import OutboxStatus
from storage.tables import Case, Outbox, Person

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Batch:
    """Leased notices in order, the people they go to, and each case's own platform."""

    rows: list[Outbox]
    people: dict[int | None, Person]
    homes: dict[int | None, str | None]


async def lease(db: Database, limit: int) -> Batch | None:
    """Lease up to `limit` notices due now (None if there are none)."""
    now = datetime.now(UTC)
    async with db.session() as s:
        q = (
            select(Outbox)
            .where(
                col(Outbox.sent).is_(False),
                or_(col(Outbox.claimed_until).is_(None), col(Outbox.claimed_until) < now),
            )
            .order_by(col(Outbox.id))
            .limit(limit)
        )
        if db.postgres:
            q = q.with_for_update(skip_locked=True)
        rows = list((await s.exec(q)).all())
        if not rows:
            return None
        for row in rows:
            row.claimed_until = now + LEASE
            s.add(row)
        people = {
            p.id: p
            for p in (
                await s.exec(select(Person).where(col(Person.id).in_({r.person_id for r in rows})))
            ).all()
        }
        case_ids = {r.case_id for r in rows if r.case_id is not None}
        homes: dict[int | None, str | None] = dict(
            (await s.exec(select(Case.id, Case.platform).where(col(Case.id).in_(case_ids)))).all()
        )
    return Batch(rows, people, homes)


async def hand_back(db: Database, ids: list[int | None]) -> None:
    """Leased and not sent (stopping): anyone may send them now, in their order."""
    async with db.session() as s:
        await s.exec(update(Outbox).where(col(Outbox.id).in_(ids)).values(claimed_until=None))


async def settle(db: Database, row: Outbox, status: OutboxStatus, error: str | None) -> None:
    """Record the try: done (sent, unreachable, or failed for the last time) or retried after a
    backoff."""
    async with db.session() as s:
        if status is OutboxStatus.SENT:  # the usual case: one statement
            await s.exec(
                update(Outbox)
                .where(col(Outbox.id) == row.id)
                .values(attempts=col(Outbox.attempts) + 1, error=None, sent=True, status=status)
            )
            return
        fresh = await s.get(Outbox, row.id)
        if fresh is None:
            return
        fresh.attempts += 1
        fresh.error = error
        if status is OutboxStatus.RETRYING and fresh.attempts >= MAX_ATTEMPTS:
            status = OutboxStatus.FAILED
        fresh.status = status
        if status is not OutboxStatus.RETRYING:
            fresh.sent = True
        else:
            backoff = timedelta(seconds=min(300, 2**fresh.attempts))
            fresh.claimed_until = datetime.now(UTC) + backoff
        s.add(fresh)
