"""The statements run most, sent to asyncpg itself, inside SQLAlchemy's transaction.

Through SQLAlchemy's execution (its execution context, the driver adapter's cursor, the result
built around the rows) a statement costs over 100 µs of CPU beyond asyncpg's own, and more for
one with many parameters. These go here: a change's request (`storage.db.insert_row`) and, at
commit, its appended rows (`storage.appends`); the statements that stand alone in batches (a
notice's mark, a post's record: `storage.batches`); a case card's read. `bench/command_cpu.py`:
2.38 ms of CPU per ask through SQLAlchemy, 1.90 ms here.

A statement is compiled by SQLAlchemy once: its SQL text, its parameters in order with their
types' bind processors, the columns it returns with their result processors. It is sent with
asyncpg's `fetch`, `execute` or `executemany` (whose statement cache prepares it once per
connection) on the connection under SQLAlchemy's: inside the transaction SQLAlchemy began, or on
a connection where each statement stands alone (`AUTOCOMMIT`). A failure is raised as SQLAlchemy
would raise it: a duplicate key as `IntegrityError`, a lost connection as `OperationalError`
marked `connection_invalidated`, so that the command is run again on a fresh one (the
transaction's rollback lets the dead one go).

Everything else runs through SQLAlchemy: SQLite, a transaction not begun yet (SQLAlchemy begins
it with its first statement), and a statement whose parameters expand as it runs (`IN` lists).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import Connection, exc
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import await_

Processor = Callable[[Any], Any]
KEPT = 1000  # statements kept compiled (each is built once, so there are few)
_UNSET = object()
AUTOCOMMIT = "AUTOCOMMIT"


@dataclass(frozen=True)
class Compiled:
    """A statement as sent: its SQL text; each parameter's name, value when none is given (the
    statement's own) and bind processor, in order; the result processor of each column it
    returns."""

    sql: str
    binds: tuple[tuple[str, Any, Processor | None], ...]
    results: tuple[Processor | None, ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, default, process in self.binds:
            value = params.get(name, default)
            if value is _UNSET:
                raise exc.ArgumentError(f"no value for the parameter {name!r}")
            values.append(value if process is None else process(value))
        return values

    def row(self, record: asyncpg.Record) -> tuple[Any, ...]:
        return tuple(v if p is None else p(v) for p, v in zip(self.results, record, strict=True))


_COMPILED: dict[tuple[Any, str], Compiled | None] = {}


def compiled(statement: Any, dialect: Dialect) -> Compiled | None:
    """`statement` (built once, so it is its own key) compiled for `dialect`; None: it runs
    through SQLAlchemy."""
    key = (statement, dialect.name)
    if key in _COMPILED:
        return _COMPILED[key]
    found = _compile(statement, dialect) if dialect.driver == "asyncpg" else None
    if len(_COMPILED) >= KEPT:
        _COMPILED.clear()
    _COMPILED[key] = found
    return found


def _compile(statement: Any, dialect: Dialect) -> Compiled | None:
    done = statement.compile(dialect=dialect)
    if not isinstance(done, SQLCompiler) or not done.positional or done.positiontup is None:
        return None
    if done.post_compile_params or done.literal_execute_params:
        return None
    binds = []
    for name in done.positiontup:
        bind = done.binds[name]
        default = _UNSET if bind.required else bind.effective_value
        binds.append((name, default, bind.type.dialect_impl(dialect).bind_processor(dialect)))
    returned = getattr(statement, "exported_columns", ())
    results = (c.type.dialect_impl(dialect).result_processor(dialect, None) for c in returned)
    return Compiled(done.string, tuple(binds), tuple(results))


def stands_alone(conn: Connection) -> bool:
    """Whether each statement on `conn` is a transaction of its own (`AUTOCOMMIT`)."""
    return bool(conn.get_execution_options().get("isolation_level") == AUTOCOMMIT)


def _direct(conn: Connection, statement: Any) -> tuple[Compiled, Any] | None:
    """`statement` compiled, and the asyncpg connection under `conn` to send it on, if it can
    go there: its transaction has begun, or each statement stands alone. None: through
    SQLAlchemy."""
    found = compiled(statement, conn.dialect)
    if found is None:
        return None
    driver = conn.connection.driver_connection
    if not isinstance(driver, asyncpg.Connection):
        return None
    if driver.is_in_transaction() or stands_alone(conn):
        return found, driver
    return None


def _sync(conn: AsyncConnection) -> Connection:
    sync = conn.sync_connection
    assert sync is not None
    return sync


async def fetch(
    conn: AsyncConnection, statement: Any, params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """Run `statement` with `params` in `conn`'s transaction: the rows it returns, each value
    as SQLAlchemy gives it, by position."""
    direct = _direct(_sync(conn), statement)
    if direct is None:
        return _tuples(await conn.execute(statement, dict(params)))
    return await _fetched(*direct, params)


async def execute(
    conn: AsyncConnection, statement: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> None:
    """Run `statement` (returning nothing) with `params`, or once for each of a list of them
    (the driver's `executemany`), as `fetch` runs it."""
    many = [params] if isinstance(params, Mapping) else list(params)
    direct = _direct(_sync(conn), statement)
    if direct is None:
        await conn.execute(statement, [dict(p) for p in many] if len(many) > 1 else dict(many[0]))
        return
    found, driver = direct
    args = [found.args(p) for p in many]
    try:
        if len(args) == 1:
            await driver.execute(found.sql, *args[0])
        else:
            await driver.executemany(found.sql, args)
    except Exception as error:
        raise _as_sqlalchemy(error, found, args, driver) from error


def fetch_sync(
    conn: Connection, statement: Any, params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """`fetch` on a synchronous connection (as the ORM's hooks have, within `await`)."""
    direct = _direct(conn, statement)
    if direct is None:
        return _tuples(conn.execute(statement, dict(params)))
    return await_(_fetched(*direct, params))


async def _fetched(
    found: Compiled, driver: Any, params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    args = found.args(params)
    try:
        records = await driver.fetch(found.sql, *args)
    except Exception as error:
        raise _as_sqlalchemy(error, found, args, driver) from error
    return [found.row(record) for record in records]


def _tuples(result: CursorResult[Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in result.all()] if result.returns_rows else []


def _as_sqlalchemy(
    error: Exception, found: Compiled, args: list[Any], driver: Any
) -> exc.DBAPIError:
    """`error` as SQLAlchemy raises a driver's error of its kind."""
    lost = driver.is_closed() or isinstance(
        error, asyncpg.InterfaceError | asyncpg.PostgresConnectionError | OSError
    )
    kind: type[exc.DBAPIError]
    if lost:
        kind = exc.OperationalError
    elif isinstance(error, asyncpg.IntegrityConstraintViolationError):
        kind = exc.IntegrityError
    elif isinstance(error, asyncpg.DataError):
        kind = exc.DataError
    else:
        kind = exc.DatabaseError
    return kind(found.sql, args, error, connection_invalidated=lost)  # type: ignore[arg-type]
