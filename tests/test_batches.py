"""Standalone statements asked for together are written together (`Database.batch`), and one
that fails fails only its caller."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.migrate import migrate
from storage.tables import Person, table_of

PERSON = table_of(Person)
RENAME = update(PERSON).where(PERSON.c.id == bindparam("pid")).values(handle=bindparam("to"))


async def _people(url: str, count: int) -> tuple[Database, list[tuple[bool, int]]]:
    db = Database(url)
    await migrate(db)
    async with db.session() as s:
        s.add_all(Person(handle=f"p{i}", name=f"P {i}") for i in range(count))
    runs: list[tuple[bool, int]] = []  # (executemany, rows) of each UPDATE sent

    def seen(sql: str, many: bool, params: Any) -> None:
        if sql.startswith("UPDATE person"):
            runs.append((many, len(params) if many else 1))

    if db.postgres:  # the statements go to asyncpg itself (`storage.driver`): as it sends them

        def logged(query: Any) -> None:
            seen(query.query, isinstance(query.args, list), query.args)

        @event.listens_for(db.engine.sync_engine, "checkout")
        def _taken(_dbapi: Any, record: Any, _proxy: Any) -> None:
            record.driver_connection.add_query_logger(logged)  # once per connection: a set

    else:

        @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
        def _seen(conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
            seen(sql, many, params)

    return db, runs


async def _handles(db: Database) -> list[str]:
    async with db.statements() as conn:
        return list((await conn.execute(select(PERSON.c.handle).order_by(PERSON.c.id))).scalars())


async def test_statements_asked_together_go_in_one_batch(db_url: str) -> None:
    db, runs = await _people(db_url, 10)
    try:
        await asyncio.gather(*(db.batch(RENAME, {"pid": i, "to": f"q{i}"}) for i in range(1, 11)))
        assert await _handles(db) == [f"q{i}" for i in range(1, 11)]
        assert runs == [(True, 10)]

        await db.batch(RENAME, {"pid": 1, "to": "alone"})  # a quiet process: at once, alone
        assert len(runs) == 2 and runs[1][1] == 1
        assert (await _handles(db))[0] == "alone"
    finally:
        await db.dispose()


async def test_a_failing_statement_fails_only_its_caller(db_url: str) -> None:
    db, _ = await _people(db_url, 4)
    try:
        results = await asyncio.gather(
            db.batch(RENAME, {"pid": 1, "to": "one"}),
            db.batch(RENAME, {"pid": 2, "to": "p3"}),  # p3 is taken: unique handles
            db.batch(RENAME, {"pid": 4, "to": "four"}),
            return_exceptions=True,
        )
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], IntegrityError)
        assert await _handles(db) == ["one", "p1", "p2", "four"]
    finally:
        await db.dispose()
