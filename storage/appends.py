"""Rows a change only appends, written together in one statement instead of one each.

Timeline events, outbox notices, new ladder steps and the delivery key are never read back by
the change that makes them, so they wait on the session (`append`) and go to the database in one
round trip: on PostgreSQL one statement (each table's rows as one INSERT from its columns'
arrays, all but the last attached as data-modifying WITHs, with any statement `ride` adds); on
SQLite, which has no data-modifying WITH, one multi-row VALUES per table in turn.

They are written before any statement of the session that names one of their tables (or that
cannot be read for its tables, such as SQL text), so every query of the transaction sees them,
and at commit; a statement about other tables (the case, people, requests) runs first. A flush
of other objects may come before them too; that is safe because no table refers to the appended
ones. A rollback drops them (a savepoint's, the ones appended since it began). On PostgreSQL
the SQL text depends only on which tables have rows, so it is compiled once and prepared once
per connection.

A process that acts on one table's rows itself (delivery, on the outbox's) may ask for them
(`hand_over`): they are written already claimed for it and given to it, with their ids, once
committed, so it need not claim them again; should it die first, the claim runs out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    Connection,
    Delete,
    Engine,
    Insert,
    Table,
    Update,
    bindparam,
    event,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import ORMExecuteState, SessionTransaction
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql import visitors
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement, ColumnClause, ColumnElement, TextClause
from sqlalchemy.sql.selectable import FromClause, TableClause
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import driver
from storage.db import TrackedSession, note_due
from storage.tables import defaults_of, table_of

PENDING = "appends"  # session.info key: the rows waiting to be written
SHAPES_KEPT = 1000  # statements kept built, one per shape of what was appended together
MAX_PARAMS = 30000  # per statement: asyncpg takes at most 32767, SQLite (3.32 on) 32766


Handed = list[tuple[dict[str, Any], tuple[Any, ...]]]  # rows written claimed: values, read back


@dataclass(frozen=True, eq=False)
class Handover:
    """The rows of `table` appended on one engine are written with `claim()`'s values and, once
    committed, given to `to` with what `returning` reads back of each (their id first)."""

    table: Table
    claim: Callable[[], dict[str, Any]]
    returning: tuple[ColumnElement[Any], ...]
    to: Callable[[Handed], None]


_HANDOVERS: WeakKeyDictionary[Engine, Handover] = WeakKeyDictionary()

Shape = tuple[
    tuple[tuple[Table, tuple[str, ...]], ...], tuple["Delete | Update", ...], Handover | None
]
_SHAPES: dict[Shape, Any] = {}


@dataclass
class Pending:
    rows: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)
    rides: list[tuple[Delete | Update, dict[str, Any]]] = field(default_factory=list)
    # per open savepoint: what was pending when it began (restored when it rolls back)
    marks: WeakKeyDictionary[SessionTransaction, Pending] = field(default_factory=WeakKeyDictionary)
    # written claimed, to be handed over once committed
    handed: list[tuple[Handover, Handed]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.rows or self.rides)

    def tables(self) -> set[TableClause]:
        rides = (r.table for r, _ in self.rides if isinstance(r.table, TableClause))
        return {*self.rows, *rides}

    def copy(self) -> Pending:
        rows = {table: list(values) for table, values in self.rows.items()}
        return Pending(rows, list(self.rides), self.marks, list(self.handed))


def hand_over(engine: Engine, handover: Handover | None) -> None:
    """From now on the rows of `handover.table` appended on `engine` are handed over (None: no
    longer)."""
    if handover is None:
        _HANDOVERS.pop(engine, None)
    else:
        _HANDOVERS[engine] = handover


def _sync(session: AsyncSession | OrmSession) -> OrmSession:
    return session.sync_session if isinstance(session, AsyncSession) else session


def _pending(session: OrmSession) -> Pending:
    found: Pending | None = session.info.get(PENDING)
    if found is None:
        found = session.info[PENDING] = Pending()
    return found


def append(session: AsyncSession | OrmSession, model: type[SQLModel], **values: Any) -> None:
    """Insert a `model` row of `values` (the model's defaults for the rest) with the session's
    other appended rows; it is never an object of the session and gets no id there (building
    the object only to read its columns back cost more than the rest of the append).

    A session of another class than `TrackedSession` (which writes them) takes an object as
    usual.
    """
    sync = _sync(session)
    if not isinstance(sync, TrackedSession):
        session.add(model(**values))
        return
    constant, made = defaults_of(model)
    row = {**constant, **{name: make() for name, make in made.items()}, **values}
    table = table_of(model)
    _pending(sync).rows.setdefault(table, []).append(row)
    if table.name == "timer":
        note_due(sync, row["due_at"])


def ride(session: AsyncSession | OrmSession, stmt: Delete | Update, **params: Any) -> None:
    """Run `stmt` (no RETURNING) in the statement of the appended rows (on SQLite, before them)."""
    sync = _sync(session)
    if not isinstance(sync, TrackedSession):
        raise TypeError("ride needs a TrackedSession")
    _pending(sync).rides.append((stmt, params))


def pending(session: AsyncSession | OrmSession) -> bool:
    """Whether rows wait to be written."""
    return bool(_sync(session).info.get(PENDING))


def _inserts(rows: dict[Table, list[dict[str, Any]]]) -> Iterator[tuple[Table, Insert, int]]:
    """Each table's rows as multi-row INSERTs (with the number of rows in each), in the order of
    the tables' dependencies. Every value is a bind parameter of its own name, so that inserts
    of tables sharing column names can sit in one statement."""
    order = _order()
    for table in sorted(rows, key=lambda t: order.get(t, len(order))):
        values = rows[table]
        width = max(len(values[0]), 1)
        per = max(MAX_PARAMS // width, 1)
        for start in range(0, len(values), per):
            chunk = [
                {name: literal(v, table.c[name].type) for name, v in row.items()}
                for row in values[start : start + per]
            ]
            yield table, insert(table).values(chunk), len(chunk)


def _unnested(shape: Shape) -> Any:
    """The statement of a shape (each table's columns, the rides, and what is handed over):
    every table's rows as one `INSERT … SELECT FROM unnest(column arrays)`, all but the last as
    data-modifying WITHs; the last is the handed table's, returning what is handed. Its text
    does not depend on the number of rows, so it is built and compiled once (a multi-row VALUES
    would be compiled anew every time) and prepared once per connection."""
    found = _SHAPES.get(shape)
    if found is not None:
        return found
    tables, rides, handover = shape
    statements: list[Any] = []
    handed: Any = None
    for table, names in tables:
        # one dimension, said: otherwise each array is copied and its first item looked at
        arrays = [
            bindparam(f"{table.name}_{n}", type_=ARRAY(table.c[n].type, dimensions=1))
            for n in names
        ]
        if handover is not None and table is handover.table:
            # in the order given, so the ids, made in that order, say which row is which
            numbered = func.unnest(*arrays).table_valued(*names, with_ordinality="n")
            derived = numbered.render_derived()
            rows = select(*(derived.c[n] for n in names)).order_by(derived.c.n)
            handed = insert(table).from_select(names, rows).returning(*handover.returning)
            continue
        columns = func.unnest(*arrays).table_valued(*names).render_derived()
        statements.append(insert(table).from_select(names, select(*(columns.c[n] for n in names))))
    combined: list[Any] = [*statements, *rides, *([handed] if handed is not None else [])]
    *rest, last = combined
    for i, stmt in enumerate(rest):
        last = last.add_cte(stmt.cte(f"appended_{i}"))
    if len(_SHAPES) >= SHAPES_KEPT:
        _SHAPES.clear()
    _SHAPES[shape] = last
    return last


@cache
def _order() -> dict[Table, int]:
    """The tables in the order of their dependencies (sorting them anew each time cost as much
    as the rest of a write)."""
    return {t: i for i, t in enumerate(SQLModel.metadata.sorted_tables)}


def _handover(conn: Connection, todo: Pending) -> Handover | None:
    """The hand-over asked for on this engine, if this write has rows of its table and is in a
    transaction that commits (rows written outside of one are left unclaimed)."""
    handover = _HANDOVERS.get(conn.engine)
    if handover is None or handover.table not in todo.rows:
        return None
    if driver.stands_alone(conn):
        return None
    return handover


def _read_back(values: list[dict[str, Any]], returned: Sequence[tuple[Any, ...]]) -> Handed:
    """The rows written with what was read back of each: ids are made in the order the rows
    were written, whatever the order RETURNING gives them in."""
    return list(zip(values, sorted(returned, key=lambda r: r[0]), strict=True))


def write(session: OrmSession, conn: Connection | None = None) -> None:
    """Write the pending rows now (nothing to do when there are none)."""
    todo: Pending | None = session.info.get(PENDING)
    if not todo:
        return
    kept = session.info[PENDING] = Pending(marks=todo.marks, handed=todo.handed)
    conn = conn if conn is not None else session.connection()
    handover = _handover(conn, todo)
    if handover is not None:
        claim = handover.claim()
        for row in todo.rows[handover.table]:
            row.update(claim)
    if conn.dialect.name != "postgresql":
        for rider, given in todo.rides:
            conn.execute(rider, given)
        done = 0  # of the handed table's rows
        for table, stmt, count in _inserts(todo.rows):
            if handover is None or table is not handover.table:
                conn.execute(stmt)
                continue
            back = conn.execute(stmt.returning(*handover.returning)).all()
            values = todo.rows[table][done : done + count]
            kept.handed.append((handover, _read_back(values, [tuple(r) for r in back])))
            done += count
        return
    order = _order()
    tables = sorted(todo.rows, key=lambda t: order.get(t, len(order)))
    columns = tuple((table, tuple(todo.rows[table][0])) for table in tables)
    params: dict[str, Any] = {}
    for table, names in columns:
        values = todo.rows[table]
        params.update({f"{table.name}_{n}": [row[n] for row in values] for n in names})
    for _, given in todo.rides:
        params.update(given)
    shape = (columns, tuple(r for r, _ in todo.rides), handover)
    returned = driver.fetch_sync(conn, _unnested(shape), params)
    if handover is not None:
        kept.handed.append((handover, _read_back(todo.rows[handover.table], returned)))


def _touches(statement: Executable, tables: set[TableClause]) -> bool:
    """Whether `statement` may read or change one of `tables` (SQL text: it may)."""
    if not isinstance(statement, ClauseElement):
        return True
    for element in visitors.iterate(statement):
        if isinstance(element, TextClause):
            return True
        if isinstance(element, ColumnClause):
            element = element.table  # type: ignore[assignment]
        if isinstance(element, FromClause) and any(element.is_derived_from(t) for t in tables):
            return True
    return False


@event.listens_for(TrackedSession, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    todo: Pending | None = state.session.info.get(PENDING)
    if todo and _touches(state.statement, todo.tables()):
        write(state.session)


@event.listens_for(TrackedSession, "before_commit")
def _before_commit(session: OrmSession) -> None:
    write(session)


@event.listens_for(TrackedSession, "after_commit")
def _committed(session: OrmSession) -> None:
    """What was written claimed is handed over now that it is committed."""
    todo: Pending | None = session.info.get(PENDING)
    if todo is None or not todo.handed:
        return
    handed, todo.handed = todo.handed, []
    for handover, rows in handed:
        handover.to(rows)


@event.listens_for(TrackedSession, "after_transaction_create")
def _savepoint_begun(session: OrmSession, transaction: SessionTransaction) -> None:
    if transaction.nested:
        todo = _pending(session)
        todo.marks[transaction] = todo.copy()


@event.listens_for(TrackedSession, "after_soft_rollback")
def _rolled_back(session: OrmSession, previous: SessionTransaction) -> None:
    """Rows appended in what was rolled back are dropped; a savepoint's rollback also undoes the
    writing of what was pending when it began, so that is pending again."""
    todo: Pending | None = session.info.get(PENDING)
    if todo is None:
        return
    mark = todo.marks.pop(previous, None) if previous.nested else None
    if mark is not None:
        session.info[PENDING] = mark
    else:
        session.info[PENDING] = Pending()
