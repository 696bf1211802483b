"""The inbox row a task is handling, deleted in the transaction that records its delivery key.

A command's change, its delivery key and the deletion of the inbox row it came from commit
together: a crash before the commit leaves the row to be handled again, and after it leaves
nothing to do. The key is an appended row and the deletion rides with it (`storage.appends`:
on PostgreSQL in the one statement of the change's appended rows), so neither costs a round trip
of its own; a row whose handling wrote no delivery key (a refusal, a duplicate, a click that
changed nothing) is deleted by the inbox afterwards.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.appends import append, ride
from storage.tables import Delivery, InboxItem, table_of

INBOX = table_of(InboxItem)
GONE = delete(INBOX).where(INBOX.c.id == bindparam("inbox_id"))  # built once: see storage.appends


@dataclass
class Handling:
    """The row being handled; `deleted` once a committed transaction has deleted it."""

    id: int
    pending: bool = False
    deleted: bool = False


handling: ContextVar[Handling | None] = ContextVar("inbox_row", default=None)


def record_delivery(
    session: AsyncSession, *, key: str, at: datetime, reply: dict[str, Any]
) -> None:
    """Append the delivery key with its reply, and the deletion of the inbox row being handled
    (if any); a key already there fails the transaction at commit (IntegrityError).
    `committed()` marks the row deleted once the transaction has committed."""
    row = handling.get()
    append(session, Delivery, key=key, at=at, reply=reply)
    if row is not None and not row.deleted:
        ride(session, GONE, inbox_id=row.id)
        row.pending = True


def committed() -> None:
    """The transaction that recorded the delivery committed: its inbox row is gone."""
    row = handling.get()
    if row is not None and row.pending:
        row.deleted, row.pending = True, False


def begin() -> None:
    """A new transaction: what one that did not commit meant to delete is not deleted."""
    row = handling.get()
    if row is not None:
        row.pending = False
