"""Claims on a row about to be posted in Slack: its `posting_since` set in one conditional
update, so only one process posts it; a claim older than `CLAIM_SECONDS` was left by a crash and
may be taken again. The claim is wall-clock time (it is about processes, not the simulated clock).
A request asked in a case with a thread is claimed as it is made (`bot.requests.asking`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, update

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
