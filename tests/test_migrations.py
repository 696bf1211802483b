"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (the models register their tables)
from storage.db import Database
from storage.migrate import migrate


def _differences(connection: Any) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))


async def test_migrated_schema_matches_the_models(db_url: str) -> None:
    db = Database(db_url)
    try:
        await migrate(db)
        async with db.engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await db.dispose()
    assert differences == []
