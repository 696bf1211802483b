"""The outbox's rows as delivery leases and records them.

A batch is leased (`LEASE`) before it is sent, so replicas never send the same notice side by
side; a crash between send and record resends it after the lease (at least once). A failed try is
retried after a backoff, up to `MAX_ATTEMPTS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Update, bindparam, or_
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
    """Lease up to `limit` notices due now (None if there are none): they are claimed (skipping
    those another replica is claiming) and read with their people and cases, on PostgreSQL in one
    statement (the claim a data-modifying WITH of the read), elsewhere in two."""
    now = datetime.now(UTC)
    params = {"now": now, "until": now + LEASE, "limit": limit}
    claim, read = _leasing(db.postgres)
    async with db.single() as s:
        if db.postgres:
            found = (await s.exec(read, params=params)).all()
        else:
            ids = list((await s.exec(claim, params=params)).scalars().all())
            found = (await s.exec(read, params={"ids": ids})).all()
    if not found:
        return None
    rows = [row for row, _, _ in found]
    people = {person.id: person for _, person, _ in found}
    homes: dict[int | None, str | None] = {
        row.case_id: platform for row, _, platform in found if row.case_id is not None
    }
    return Batch(rows, people, homes)


@cache
def _leasing(postgres: bool) -> tuple[Any, Any]:
    """The lease's claim and read, built once (with parameters for the times and the limit):
    building them anew for every lease cost more than running them."""
    due = (
        select(col(Outbox.id))
        .where(
            col(Outbox.sent).is_(False),
            or_(
                col(Outbox.claimed_until).is_(None),
                col(Outbox.claimed_until) < bindparam("now"),
            ),
        )
        .order_by(col(Outbox.id))
        .limit(bindparam("limit"))
    )
    if postgres:
        due = due.with_for_update(skip_locked=True)
    claim = (
        update(Outbox)
        .where(col(Outbox.id).in_(due.scalar_subquery()))
        .values(claimed_until=bindparam("until"))
        .returning(col(Outbox.id))
        .execution_options(synchronize_session=False)
    )
    read = (
        select(Outbox, Person, Case.platform)
        .join(Person, col(Person.id) == col(Outbox.person_id))
        .outerjoin(Case, col(Case.id) == col(Outbox.case_id))
        .order_by(col(Outbox.id))
    )
    if postgres:
        claimed = claim.cte("claimed")
        return claim, read.where(col(Outbox.id).in_(select(claimed.c.id)))
    return claim, read.where(col(Outbox.id).in_(bindparam("ids", expanding=True)))


async def hand_back(db: Database, ids: list[int | None]) -> None:
    """Leased and not sent (stopping): anyone may send them now, in their order."""
    async with db.session() as s:
        await s.exec(
            update(Outbox)
            .where(col(Outbox.id).in_(ids))
            .values(claimed_until=None)
            .execution_options(synchronize_session=False)
        )


Record = Update
"""What a channel records of a notice it sent (an UPDATE), written with the mark that it was
sent: on PostgreSQL in the same statement."""


async def settle(
    db: Database,
    row: Outbox,
    status: OutboxStatus,
    error: str | None,
    *,
    record: Record | None = None,
) -> None:
    """Record the try: done (sent, unreachable, or failed for the last time) or retried after a
    backoff."""
    if status is OutboxStatus.SENT:  # the usual case: one statement, the channel's record in it
        mark = (
            update(Outbox)
            .where(col(Outbox.id) == row.id)
            .values(attempts=col(Outbox.attempts) + 1, error=None, sent=True, status=status)
            .execution_options(synchronize_session=False)  # no rows in the session to match
        )
        async with db.single() as s:
            if record is not None and db.postgres:
                mark = mark.add_cte(record.cte("recorded"))
            elif record is not None:
                await s.exec(record)
            await s.exec(mark)
        return
    async with db.session() as s:
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
