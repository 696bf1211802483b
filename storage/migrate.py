"""Schema changes go through alembic, applied on start by every process (idempotent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from storage.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_ID = 74_211_001  # PostgreSQL advisory lock: replicas starting together migrate one at a time


def alembic_config(connection: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Any, revision: str = "head") -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_ID})"))
    command.upgrade(alembic_config(connection), revision)


async def migrate(db: Database, revision: str = "head") -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


def _revision(connection: Any, message: str) -> None:
    command.revision(alembic_config(connection), message=message, autogenerate=True)


async def make_revision(db: Database, message: str) -> None:
    """Developers' helper: autogenerate a migration from the tables (used with an up-to-date db)."""
    async with db.engine.begin() as conn:
        await conn.run_sync(_revision, message)
