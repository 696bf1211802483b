"""Shared by the access tests: what the database holds, to prove a denial wrote nothing."""

from __future__ import annotations

from typing import Any

from sqlmodel import func, select

from storage.tables import Case, Delivery, Event, Outbox, Person, Request, Timer

TABLES = (Case, Request, Event, Outbox, Timer, Person, Delivery)


async def counts(app: Any) -> dict[str, int]:
    """Rows per table, as `app` sees them."""
    async with app.db.reader() as s:
        return {
            t.__tablename__: int((await s.exec(select(func.count()).select_from(t))).one())
            for t in TABLES
        }


NO_CASE = "There is no case C-1."
NO_REQUEST = "There is no request R-1."
NOT_OWNER_SIDE = "Only the owner of C-1 (@alex), their manager or an admin"
NOT_ASKED = "R-1 was asked of @dana"
NOT_ASKER = "Only the owner of C-1 or whoever asked R-1"
NOT_A_PERSON = "You are not part of this organisation in ownit yet"
