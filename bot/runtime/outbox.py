"""The outbox's rows as delivery leases and records them.

A batch is leased (`lease`) before it is sent, so replicas never send the same notice side by
side; a crash between send and record resends it after the lease (at least once). A failed try is
retried after a backoff, up to `MAX_ATTEMPTS`.

Leasing and recording are plain statements on the tables, and a leased notice is a plain row
(`Notice`): the people it goes to come from the process's cache (`people_cache.to_show`), so a
delivery builds no row objects and keeps no session.

A process that delivers has the notices it writes itself written already leased to it and
handed to it once committed (`hand_over`): it sends them without leasing them. Should it die
first, their lease runs out and any process sends them, as any other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Update, bindparam, literal_column, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import people_cache
from storage import appends
from storage.appends import Handed, Handover
from storage.db import Database
from storage.states import OutboxStatus
from storage.tables import Case, Outbox, Person, table_of

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8

OUTBOX = table_of(Outbox)
CASE = table_of(Case)


class Notice(NamedTuple):
    """A notice to deliver: its outbox row's columns, and its case's own platform (`home`)."""

    id: int
    person_id: int
    kind: str
    payload: dict[str, Any]
    case_id: int | None
    request_id: int | None
    attempts: int
    home: str | None


async def lease(db: Database, limit: int) -> list[Notice]:
    """Lease up to `limit` notices due now: one statement claims them (skipping those another
    replica is claiming) and returns them with their cases' platforms, in no order."""
    now = datetime.now(UTC)
    params = {"now": now, "until": now + LEASE, "limit": limit}
    async with db.statements() as conn:
        found = (await conn.execute(_leasing(db.postgres), params)).all()
    return [Notice._make(row) for row in found]


async def people(db: Database, ids: set[int]) -> dict[int, Person]:
    """The people the notices go to (shared copies, never changed): from the process's cache,
    and read only if it lacks some."""
    async with AsyncSession(db.engine) as s:  # it connects only to read
        return await people_cache.to_show(s, ids)


def hand_over(db: Database, to: Callable[[list[Notice]], None] | None) -> None:
    """From now on the notices written on this process are leased to it as they are written (as
    `lease` would) and given to `to` once committed, with their ids and their cases' platforms
    (None: no longer)."""
    if to is None:
        appends.hand_over(db.engine.sync_engine, None)
        return

    def handed(rows: Handed) -> None:
        to([_written(values, back) for values, back in rows])

    appends.hand_over(
        db.engine.sync_engine, Handover(OUTBOX, _claim, (OUTBOX.c.id, _home()), handed)
    )


def _claim() -> dict[str, Any]:
    return {"claimed_until": datetime.now(UTC) + LEASE}


def _written(values: dict[str, Any], back: Any) -> Notice:
    """A notice as written (`values`), with its id and its case's platform read back."""
    return Notice(
        back[0],
        values["person_id"],
        values["kind"],
        values["payload"],
        values["case_id"],
        values["request_id"],
        values["attempts"],
        back[1],
    )


@cache
def _home() -> Any:
    """The platform of the notice's case (it is delivered there first)."""
    # the outbox's column by name: an INSERT's RETURNING correlates no subquery with its table
    of_notice = literal_column("outbox.case_id", OUTBOX.c.case_id.type)
    return select(CASE.c.platform).where(CASE.c.id == of_notice).scalar_subquery()


@cache
def _leasing(postgres: bool) -> Any:
    """The lease, built once (with parameters for the times and the limit): building it anew for
    every lease cost more than running it."""
    due = (
        select(OUTBOX.c.id)
        .where(
            OUTBOX.c.sent.is_(False),
            or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < bindparam("now")),
        )
        .order_by(OUTBOX.c.id)
        .limit(bindparam("limit"))
    )
    if postgres:
        due = due.with_for_update(skip_locked=True)
    c = OUTBOX.c
    return (
        update(OUTBOX)
        .where(c.id.in_(due.scalar_subquery()))
        .values(claimed_until=bindparam("until"))
        .returning(
            c.id, c.person_id, c.kind, c.payload, c.case_id, c.request_id, c.attempts, _home()
        )
    )


async def hand_back(db: Database, ids: list[int]) -> None:
    """Leased and not sent (stopping): anyone may send them now, in their order."""
    async with db.statements() as conn:
        await conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(claimed_until=None))


class Record(NamedTuple):
    """What a channel records of a notice it sent, written with the mark that it was sent (on
    PostgreSQL in the same statement): an UPDATE built once, with parameters of its own names
    (none of the mark's, which begin `mark_`)."""

    statement: Update
    params: dict[str, Any]


async def settle(
    db: Database,
    row: Notice,
    status: OutboxStatus,
    error: str | None,
    *,
    record: Record | None = None,
) -> None:
    """Record the try: done (sent, unreachable, or failed for the last time) or retried after a
    backoff. The notice is leased to this process, so its `attempts` are as leased. The marks
    of notices sent side by side are written together (`Database.batch`)."""
    if status is OutboxStatus.RETRYING and row.attempts + 1 >= MAX_ATTEMPTS:
        status = OutboxStatus.FAILED
    params: dict[str, Any] = {"mark_id": row.id, "mark_status": status, "mark_error": error}
    retrying = status is OutboxStatus.RETRYING
    if retrying:
        backoff = timedelta(seconds=min(300, 2 ** (row.attempts + 1)))
        params["mark_until"] = datetime.now(UTC) + backoff
    with_record: Update | None = None
    if record is not None and db.postgres:  # the channel's record in the same statement
        with_record = record.statement
        params.update(record.params)
    elif record is not None:
        await db.batch(record.statement, record.params)
    await db.batch(_marking(retrying, with_record), params)


@cache
def _marking(retrying: bool, record: Update | None) -> Any:
    """The mark of a try, built once for each kind (with the channel's record as a CTE): built
    anew for each notice, working out its cache key cost about as much as running it."""
    values: dict[str, Any] = {
        "status": bindparam("mark_status", type_=OUTBOX.c.status.type),
        "error": bindparam("mark_error", type_=OUTBOX.c.error.type),
        "attempts": OUTBOX.c.attempts + 1,
    }
    if retrying:
        values["claimed_until"] = bindparam("mark_until", type_=OUTBOX.c.claimed_until.type)
    else:
        values["sent"] = True
    mark = update(OUTBOX).where(OUTBOX.c.id == bindparam("mark_id")).values(**values)
    return mark if record is None else mark.add_cte(record.cte("recorded"))
