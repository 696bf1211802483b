"""The inbox row a task is handling, deleted in the transaction that records its delivery key.

A command's change, its delivery key and the deletion of the inbox row it came from commit
together: a crash before the commit leaves the row to be handled again, and after it leaves
nothing to do. On PostgreSQL the deletion rides in the delivery key's INSERT (a data-modifying
WITH), so it costs no round trip of its own; a row whose handling wrote no delivery key (a
refusal, a duplicate, a click that changed nothing) is deleted by the inbox afterwards.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import Delivery, InboxItem

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
DELIVERY = Delivery.__table__  # type: ignore[attr-defined]


@dataclass
class Handling:
    """The row being handled; `deleted` once a committed transaction has deleted it."""

    id: int
    pending: bool = False
    deleted: bool = False


handling: ContextVar[Handling | None] = ContextVar("inbox_row", default=None)


async def record_delivery(
    session: AsyncSession, *, key: str, at: datetime, reply: dict[str, Any]
) -> None:
    """Write the delivery key with its reply, and delete the inbox row being handled (if any)
    in the same statement; `committed()` marks it deleted once the transaction has committed."""
    row = handling.get()
    stmt = insert(DELIVERY).values(key=key, at=at, reply=reply)
    if row is not None and not row.deleted:
        gone = delete(INBOX).where(INBOX.c.id == row.id)
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            stmt = stmt.add_cte(gone.cte("gone"))
        else:
            await session.exec(gone)
        row.pending = True
    await session.exec(stmt)


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
