"""The daily token budget of an organisation, kept in the database so every replica shares it.

Counting is an upsert (one statement), so two replicas adding at once lose nothing. The day is
the UTC date of the `now` a service was handed; a new day starts with nothing spent.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

from storage.db import Database
from storage.tables import AiUsage, table_of

ORG = "default"
"""The organisation of a deployment: ownit serves one per database."""


def day_of(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


async def spent(db: Database, *, org: str, now: datetime) -> int:
    async with db.reader() as s:
        row = (
            await s.exec(select(AiUsage).where(AiUsage.org == org, AiUsage.day == day_of(now)))
        ).first()
    return row.tokens if row is not None else 0


async def add(db: Database, *, org: str, now: datetime, tokens: int) -> None:
    """Count `tokens` (and one call) against the organisation's day."""
    dialect = postgresql if db.postgres else sqlite
    table = table_of(AiUsage)
    stmt = dialect.insert(table).values(org=org, day=day_of(now), tokens=tokens, calls=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["org", "day"],
        set_={"tokens": table.c.tokens + tokens, "calls": table.c.calls + 1},
    )
    async with db.session() as s:
        await s.exec(stmt)  # type: ignore[call-overload]
