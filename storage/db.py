"""Engines and sessions, made on demand by the composition root (never at import time)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Insert, bindparam, event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import UOWTransaction, class_mapper, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import driver
from storage.batches import Batches
from storage.tables import defaults_of, table_of

RECYCLE = 600  # seconds a pooled connection is used before it is replaced
WRITTEN = "written"
MADE = "made"  # session.info key: the (table, id) of each row its flushes inserted
HELD = "held"  # session.info key: the rows it wrote or locked, kept alive as long as the session
EARLIEST = "earliest_due"  # session.info key: the earliest due_at among the timers it wrote
LOCKED = "locked"  # session.info key: the (table, id) of each row locked in its transaction
T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)


class DatabaseUrlError(ValueError):
    pass


# `//user:password@` in a URL; greedy up to the last `@` of the run, in case the password has one.
_USERINFO = re.compile(r"(//[^\s/@:]*:)[^\s/]*@")


def hide_password(text: str) -> str:
    """Every `//user:password@` in `text` as `//user:***@`.

    Unlike SQLAlchemy's `render_as_string(hide_password=True)` it needs no parsable URL, so it
    also serves a URL too malformed to parse and the text of an error that quotes one.
    """
    return _USERINFO.sub(r"\1***@", text)


STATEMENTS = 1000  # prepared statements kept per connection


def async_url(url: str) -> str:
    """Accept the usual URL forms and pick the async driver for them."""
    try:
        parsed = make_url(url)
    except Exception:
        raise DatabaseUrlError(
            f"DATABASE_URL is not a database URL: {hide_password(url)!r}"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise DatabaseUrlError(f"DATABASE_URL uses {backend!r}; ownit runs on SQLite or PostgreSQL")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kw: Any) -> AsyncEngine:
    url = async_url(url)
    if url.startswith("sqlite"):
        for pooling in ("pool_size", "max_overflow"):  # a file takes one writer at a time anyway
            kw.pop(pooling, None)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kw)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Transactions are begun below with BEGIN IMMEDIATE, so that two processes sharing
            # the file serialise their writes instead of failing on a stale read snapshot.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # What a peak opened stays open, rather than being closed as the peak ebbs and opened again
    # at the next: each new connection costs a handshake, the driver's type introspection and
    # the preparing of every statement again, and a busy process reaching past a smaller pool
    # spent more on that than on its commands.
    kw.setdefault("pool_size", 20)
    kw.setdefault("max_overflow", 0)
    # No ping on every checkout (a round trip each time): a connection found dead invalidates
    # the pool's older connections at once, and the command is retried on a fresh one
    # (`bot.commands.service`); the loops retry on their own. Connections are also renewed
    # now and then, before a server or a firewall drops them for idling.
    kw.setdefault("pool_pre_ping", False)
    kw.setdefault("pool_recycle", RECYCLE)
    # The connection used last is handed out first: at a low rate the same few stay busy, with
    # their statements prepared, and the rest are left idle rather than each preparing them all.
    kw.setdefault("pool_use_lifo", True)
    # Each statement is prepared once per connection (a round trip of its own); the driver's
    # default of 100 is fewer than the statements a busy process runs, so they would push each
    # other out and be prepared again and again.
    kw.setdefault("connect_args", {}).setdefault("prepared_statement_cache_size", STATEMENTS)
    return create_async_engine(url, **kw)


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


class TrackedSession(Session):
    """A session that remembers the rows it wrote (`written(session)`), so that what shows them
    (a Slack card, a request's post) is redrawn for exactly those rows, not for all of a case."""


@event.listens_for(TrackedSession, "after_flush")
def _note_written(session: OrmSession, _flush: UOWTransaction) -> None:
    new = session.new
    for obj in (*new, *session.dirty):
        _note(session, obj, made=obj in new)


def _note(session: OrmSession, obj: Any, *, made: bool) -> None:
    """`obj` was written in this session (`written`, `made`, `held`, `earliest_due`)."""
    info = session.info
    table, row_id = getattr(obj, "__tablename__", None), getattr(obj, "id", None)
    if table is not None and row_id is not None:
        info.setdefault(WRITTEN, set()).add((table, row_id))
        if made:
            info.setdefault(MADE, set()).add((table, row_id))
        info.setdefault(HELD, {})[(table, row_id)] = obj
    if table == "timer":
        note_due(session, obj.due_at)


async def insert_row(session: AsyncSession, model: type[M], **values: Any) -> M:
    """INSERT a new `model` row of `values` (the model's defaults for the rest) at once and
    keep it in the session as if read, its id filled in and noted as made, as a flush would
    have: a flush (the unit of work, and the model object built field by field beforehand)
    cost three times the statement. The same INSERT goes to the database."""
    statement, key, constant, made = _inserting(model)
    if any(name in values for name in key):
        raise ValueError(f"insert_row makes the key of {model.__name__} ({', '.join(key)})")
    row = {**constant, **{name: make() for name, make in made.items()}, **values}
    if session.new or session.dirty or session.deleted:  # they go first, as before any statement
        await session.flush()
    returned = await driver.fetch(await session.connection(), statement, row)
    row.update(zip(key, returned[0], strict=True))
    obj = as_read(session, model, row)
    _note(session.sync_session, obj, made=True)
    return obj


def as_read(session: AsyncSession, model: type[M], values: dict[str, Any]) -> M:
    """A row of `model` with these column `values` (its key among them) in the session as if
    the session had just read it, made as the ORM makes the rows it reads: no query, and none
    of the work of building a model object field by field or of merging one. The row must not
    be in the session yet."""
    obj = class_mapper(model).class_manager.new_instance()
    instance_state(obj).dict.update(values)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj  # type: ignore[no-any-return]


@cache
def _locking(model: type[SQLModel]) -> Any:
    """A model's row by id, locked (`FOR UPDATE`; SQLite has no row locks), built once: through
    the ORM the same SELECT cost twice as much, most of it working out how to load the row."""
    table = table_of(model)
    return select(table).where(table.c.id == bindparam("id")).with_for_update()


@cache
def _inserting(
    model: type[SQLModel],
) -> tuple[Insert, tuple[str, ...], dict[str, Any], dict[str, Callable[[], Any]]]:
    """A model's INSERT of every column but its numbered key, returning the key (built once:
    `storage.driver` compiles it once), the key, and its columns' defaults (`defaults_of`), None
    for a column without one: a row kept as if read has every column."""
    table = table_of(model)
    key = tuple(c.key for c in table.primary_key.columns)
    constant, made = defaults_of(model)
    columns = [c for c in table.columns if c.key not in key]
    unset = {c.key: None for c in columns if c.key not in made}
    values = {c.key: bindparam(c.key, type_=c.type) for c in columns}
    statement = insert(table).values(values).returning(*table.primary_key.columns)
    return statement, key, {**unset, **constant}, made


def note_due(session: AsyncSession | OrmSession, due: datetime) -> None:
    """A timer due at `due` was made or moved in this session (`earliest_due`)."""
    info = session.info
    if info.get(EARLIEST) is None or due < info[EARLIEST]:
        info[EARLIEST] = due


def earliest_due(session: AsyncSession) -> datetime | None:
    """The earliest due time of the timers this session made or moved (None: it made none)."""
    due: datetime | None = session.info.get(EARLIEST)
    return due


def written(session: AsyncSession, table: str) -> set[int]:
    """The ids of the `table` rows that this session's flushes inserted or updated."""
    return {i for t, i in session.info.get(WRITTEN, ()) if t == table}


def held(session: AsyncSession) -> list[Any]:
    """The rows this session wrote or locked, as it last saw them: with `expire_on_commit=False`
    they can be read after the commit (the identity map alone lets go of a row nothing holds)."""
    return list(session.info.get(HELD, {}).values())


def made(session: AsyncSession, table: str) -> set[int]:
    """The ids of the `table` rows that this session's flushes inserted."""
    return {i for t, i in session.info.get(MADE, ()) if t == table}


async def get_row(session: AsyncSession, table: type[M], row_id: int, *, lock: bool) -> M | None:
    """`session.get`, locking the row (`FOR UPDATE`) once per transaction: the access check
    locks what a command changes, and the service that reads it again is served from the
    session instead of a second round trip."""
    locked: set[tuple[type[Any], int]] = session.info.setdefault(LOCKED, set())
    name = getattr(table, "__tablename__", table)
    if (table, row_id) in locked:  # read and locked already in this transaction
        kept: M = session.info[HELD][(name, row_id)]
        return kept
    if lock:
        if identity_key(table, row_id) in session.sync_session.identity_map:
            row = await session.get(table, row_id, with_for_update=True)  # read, now locked
        else:  # one Core statement built once, the row kept as if the session had read it
            conn = await session.connection()
            found = (await conn.execute(_locking(table), {"id": row_id})).first()
            row = None if found is None else as_read(session, table, dict(found._mapping))
        if row is not None:
            locked.add((table, row_id))
            session.info.setdefault(HELD, {})[(name, row_id)] = row
        return row
    return await session.get(table, row_id)


class Database:
    """An engine and its session factory; `async with db.session() as s` is one transaction."""

    def __init__(self, url: str, **kw: Any) -> None:
        self.url = async_url(url)
        self.engine = make_engine(url, **kw)
        self._batches = Batches(self._standalone, rounds_commit=not self.postgres)
        self._factory = async_sessionmaker(
            self.engine,
            class_=AsyncSession,
            sync_session_class=TrackedSession,
            expire_on_commit=False,
        )

    @property
    def postgres(self) -> bool:
        return is_postgres(self.engine)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One transaction. The session is not closed after it: the transaction's end (commit or
        rollback) gave its connection back already, and closing (a task of its own, shielded
        from cancellation) would only detach the rows it read, which stay readable either way."""
        session = self._factory()
        async with session.begin():
            yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads. On PostgreSQL it runs without a transaction (each statement
        on its own snapshot): no BEGIN and ROLLBACK round trips around its reads."""
        async with self._factory() as session:
            if self.postgres:
                await session.connection(execution_options={"isolation_level": driver.AUTOCOMMIT})
            yield session

    @asynccontextmanager
    async def single(self) -> AsyncIterator[AsyncSession]:
        """A session for one writing statement (or a few that need no common transaction): on
        PostgreSQL each is its own transaction, with no BEGIN and COMMIT round trips."""
        if not self.postgres:
            async with self.session() as session:
                yield session
            return
        async with self.reader() as session:
            yield session

    @asynccontextmanager
    async def statements(self) -> AsyncIterator[AsyncConnection]:
        """A connection for statements that each stand alone: on PostgreSQL each is its own
        transaction (no BEGIN and COMMIT round trips); on SQLite they share one."""
        if not self.postgres:
            async with self.engine.begin() as conn:
                yield conn
            return
        conn = await self._standalone()
        try:
            yield conn
        finally:
            await conn.close()

    async def _standalone(self) -> AsyncConnection:
        """A connection on which each statement is its own transaction (PostgreSQL; on SQLite
        its caller begins them)."""
        conn = await self.engine.connect()
        if not self.postgres:
            return conn
        try:
            return await conn.execution_options(isolation_level=driver.AUTOCOMMIT)
        except Exception:
            await conn.close()
            raise

    def batch(self, statement: Any, params: dict[str, Any]) -> Awaitable[None]:
        """Run `statement` (built once) with `params` as a statement of its own, together with
        those of the same statement asked for meanwhile (`storage.batches`)."""
        return self._batches.run(statement, params)

    async def dispose(self) -> None:
        await self._batches.close()
        await self.engine.dispose()
