"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (the models register their tables)
from storage.db import Database
from storage.migrate import migrate
from storage.states import OutboxStatus


def _differences(connection: Any) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))


async def test_migrated_schema_matches_the_models(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        await migrate(db)
        async with db.engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await db.dispose()
    assert differences == []


async def test_outbox_status_is_filled_from_the_rows_as_they_were(empty_db_url: str) -> None:
    """0005 reads each notice's state from `sent` and its error text once, into `status`."""
    db = Database(empty_db_url)
    rows = {  # error text, sent -> the status it means
        "pending": (None, False),
        "retrying": ("TimeoutError: slow", False),
        "sent": (None, True),
        "unreachable": ("unreachable: no platform reaches this person", True),
        "failed": ("RuntimeError: boom", True),
    }
    try:
        await migrate(db, "0004")
        async with db.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO person (handle, name, is_admin) VALUES ('dana', 'Dana', false)")
            )
            person = (await conn.execute(text("SELECT id FROM person"))).scalar_one()
            for kind, (error, sent) in rows.items():
                await conn.execute(
                    text(
                        "INSERT INTO outbox (person_id, kind, payload, created_at, sent, attempts,"
                        " error) VALUES (:p, :k, '{}', :at, :sent, 1, :error)"
                    ),
                    {"p": person, "k": kind, "at": datetime.now(UTC), "sent": sent, "error": error},
                )
        await migrate(db)
        async with db.engine.connect() as conn:
            got = dict((await conn.execute(text("SELECT kind, status FROM outbox"))).all())
    finally:
        await db.dispose()
    assert got == {kind: OutboxStatus(kind) for kind in rows}


async def test_a_posting_claim_left_in_the_text_is_forgotten(empty_db_url: str) -> None:
    """0006 moves the Slack posting claim out of the columns Slack fills: a `pending:` value
    there meant nothing was posted yet, so the column is emptied and the next sync posts it."""
    db = Database(empty_db_url)
    at = datetime.now(UTC)
    try:
        await migrate(db, "0005")
        async with db.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO person (handle, name, is_admin) VALUES ('alex', 'Alex', false)")
            )
            person = (await conn.execute(text("SELECT id FROM person"))).scalar_one()
            case = (
                'INSERT INTO "case" (customer, summary, owner_id, priority, status,'
                " promise_version, opened_at, handoffs, platform, channel, thread, message)"
                " VALUES (:c, 's', :p, 'P3', 'open', 0, :at, 0, 'slack', 'C1', :t, :m)"
            )
            await conn.execute(
                text(case), {"c": "posted", "p": person, "at": at, "t": "1.2", "m": "1.2"}
            )
            await conn.execute(
                text(case),
                {"c": "claimed", "p": person, "at": at, "t": None, "m": "pending:000001764000000"},
            )
        await migrate(db)
        async with db.engine.connect() as conn:
            got = {
                row[0]: (row[1], row[2], row[3])
                for row in await conn.execute(
                    text('SELECT customer, thread, message, posting_since FROM "case"')
                )
            }
    finally:
        await db.dispose()
    assert got == {"posted": ("1.2", "1.2", None), "claimed": (None, None, None)}
