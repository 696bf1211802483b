"""Claims on a row about to be posted in Slack: `pending:<time>` in its message column, taken in
one conditional update, so only one process posts it; a claim older than `CLAIM_SECONDS` was
left by a crash and may be taken again."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select, update

from handlers.slack.card_reading import PENDING
from storage.tables import Case, Person, Request

CLAIM_SECONDS = 120


def _pending_expired() -> Any:
    return f"{PENDING}{int(time.time()) - CLAIM_SECONDS:012d}"


async def claim(s: Any, table: Any, row_id: int, column: Any) -> bool:
    """Mark the row as being posted (`pending:<time>`) unless it is posted or someone is at it."""
    res = await s.exec(
        update(table)
        .where(col(table.id) == row_id, unclaimed(column))
        .values({column.key: _claim_value()})
    )
    return bool(res.rowcount == 1)


def unclaimed(column: Any) -> Any:
    """Nothing posted and nobody posting: no value, or a claim older than `CLAIM_SECONDS`."""
    return or_(
        col(column).is_(None),
        and_(col(column).startswith(PENDING), col(column) < _pending_expired()),
    )


@cache
def request_to_post() -> Any:
    """A request with its case, asker and assignee: built once, since each alias of a table
    copies its columns into reference cycles that only the garbage collector frees."""
    asker, assignee = aliased(Person), aliased(Person)
    return (
        select(Request, Case, asker, assignee)
        .join(Case, col(Case.id) == col(Request.case_id))
        .outerjoin(asker, col(asker.id) == col(Request.asked_by_id))
        .outerjoin(assignee, col(assignee.id) == col(Request.assignee_id))
        .where(col(Request.id) == bindparam("id"))
    )


def _claim_value() -> str:
    return f"{PENDING}{int(time.time()):012d}"
