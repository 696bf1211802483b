"""Claims on a row about to be posted in Slack: its `posting_since` set in one conditional
update, so only one process posts it; a claim older than `CLAIM_SECONDS` was left by a crash and
may be taken again. The claim is wall-clock time (it is about processes, not the simulated clock).
A request asked in a case with a thread is claimed as it is made (`bot.requests.asking`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select, update

from storage.tables import Case, Person, Request

CLAIM_SECONDS = 120


async def claim(s: Any, table: Any, row_id: int, column: Any) -> bool:
    """Mark the row as being posted unless it is posted (`column` set) or someone is at it."""
    res = await s.exec(
        update(table)
        .where(col(table.id) == row_id, unclaimed(table, column))
        .values(posting_since=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    return bool(res.rowcount == 1)


async def unclaim(s: Any, table: Any, row_id: int) -> None:
    """Give the claim back (the post failed): the next sync tries again."""
    await s.exec(update(table).where(col(table.id) == row_id).values(posting_since=None))


def unclaimed(table: Any, column: Any) -> Any:
    """Nothing posted and nobody posting: no value, and no claim younger than `CLAIM_SECONDS`."""
    stale = datetime.now(UTC) - timedelta(seconds=CLAIM_SECONDS)
    return and_(
        col(column).is_(None),
        or_(col(table.posting_since).is_(None), col(table.posting_since) < stale),
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
