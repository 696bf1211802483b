"""Every row of every table, out as JSON lines and back in: `ownit export` and `ownit import`.

The way a team moves from SQLite to PostgreSQL when it grows (or between two PostgreSQL
servers). An export is a header line (format, schema revision), one line per row in dependency
order, and a summary line with each table's row count and checksum. An import refuses a file of
another schema revision or one whose rows do not match its own summary, refuses a database that
already holds data unless told to replace it, and checks the counts and checksums of what it
wrote before it commits, so a partial or altered copy never lands.

The checksum of a table is a SHA-256 over the sorted hashes of its rows in canonical JSON, so
it does not depend on the order a database returns rows in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (registers the tables)
from storage.db import Database
from storage.migrate import migrate
from storage.types import UTCDateTime

FORMAT = "ownit-export"
VERSION = 1
BATCH = 500
SKIPPED = frozenset({"alembic_version"})

Summary = dict[str, dict[str, Any]]  # table → {"count": n, "sha256": hex}


class TransferError(Exception):
    """Why an import was refused: `kind` names the reason, `fields` fill its wording."""

    def __init__(self, kind: str, **fields: Any) -> None:
        super().__init__(kind, fields)
        self.kind = kind
        self.fields = fields


def tables() -> list[Table]:
    """Parents before children, as rows must be inserted."""
    return [t for t in SQLModel.metadata.sorted_tables if t.name not in SKIPPED]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _canonical(row: dict[str, Any]) -> bytes:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Tally:
    """Counts and row hashes per table, folded into the summary."""

    def __init__(self) -> None:
        self.hashes: dict[str, list[bytes]] = {t.name: [] for t in tables()}

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.hashes.setdefault(table, []).append(hashlib.sha256(_canonical(row)).digest())

    def summary(self) -> Summary:
        return {
            name: {"count": len(h), "sha256": hashlib.sha256(b"".join(sorted(h))).hexdigest()}
            for name, h in self.hashes.items()
        }


async def _rows(conn: AsyncConnection, table: Table) -> AsyncIterator[dict[str, Any]]:
    query = select(table).order_by(*table.primary_key.columns)
    result = await conn.stream(query)
    async for row in result.mappings():
        yield {k: _plain(v) for k, v in row.items()}


async def _revision(conn: AsyncConnection) -> str | None:
    result = await conn.execute(text("SELECT version_num FROM alembic_version"))
    return result.scalar()


async def _tally(conn: AsyncConnection) -> Summary:
    tally = Tally()
    for table in tables():
        async for row in _rows(conn, table):
            tally.add(table.name, row)
    return tally.summary()


async def export(db: Database, write: Callable[[str], object]) -> Summary:
    """Write the whole database as JSON lines (each ends with a newline); one snapshot."""
    await migrate(db)
    tally = Tally()
    options = {} if not db.postgres else {"isolation_level": "REPEATABLE READ"}
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(**options)
        async with conn.begin():
            head = {"format": FORMAT, "version": VERSION, "revision": await _revision(conn)}
            write(json.dumps(head) + "\n")
            for table in tables():
                async for row in _rows(conn, table):
                    tally.add(table.name, row)
                    write(json.dumps({"table": table.name, "row": row}, ensure_ascii=False) + "\n")
    summary = tally.summary()
    write(json.dumps({"summary": summary}) + "\n")
    return summary


def _decode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for column in table.columns:
        value = out.get(column.name)
        if isinstance(column.type, UTCDateTime) and isinstance(value, str):
            out[column.name] = datetime.fromisoformat(value)
    return out


def read(lines: Iterable[str]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]], Summary]:
    """The header, the rows by table, and the summary; refuses a file that contradicts itself."""
    it = (line for line in lines if line.strip())
    try:
        head = json.loads(next(it))
    except (StopIteration, json.JSONDecodeError):
        raise TransferError("not_an_export") from None
    if head.get("format") != FORMAT or head.get("version") != VERSION:
        raise TransferError("not_an_export")
    known = {t.name for t in tables()}
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in known}
    tally = Tally()
    claimed: Summary | None = None
    for number, line in enumerate(it, start=2):
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise TransferError("bad_line", line=number) from None
        if "summary" in item:
            claimed = item["summary"]
            continue
        if item.get("table") not in known:
            raise TransferError("unknown_table", table=item.get("table"), line=number)
        rows[item["table"]].append(item["row"])
        tally.add(item["table"], item["row"])
    if claimed is None:
        raise TransferError("truncated")
    found = tally.summary()
    for name, want in claimed.items():
        if found.get(name) != want:
            raise TransferError("corrupt", table=name)
    return head, rows, found


async def _insert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows pointing at rows of their own table (a manager) get that link once all are in."""
    own = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
    pk = [c.name for c in table.primary_key.columns]
    decoded = [_decode(table, r) for r in rows]
    for start in range(0, len(decoded), BATCH):
        batch = [{**r, **dict.fromkeys(own)} for r in decoded[start : start + BATCH]]
        await conn.execute(table.insert(), batch)
    linked = [r for r in decoded if any(r.get(c) is not None for c in own)]
    if linked:
        where = [table.c[c] == bindparam(f"pk_{c}") for c in pk]
        stmt = update(table).where(*where).values({c: bindparam(f"v_{c}") for c in own})
        params = [
            {**{f"pk_{c}": r[c] for c in pk}, **{f"v_{c}": r[c] for c in own}} for r in linked
        ]
        await conn.execute(stmt, params)


async def _restart_sequences(conn: AsyncConnection, table: Table) -> None:
    """PostgreSQL: the next id after the highest imported (SQLite takes the highest by itself)."""
    (column,) = table.primary_key.columns if len(table.primary_key.columns) == 1 else (None,)
    if column is None or column.type.python_type is not int:
        return
    top = f'(SELECT MAX("{column.name}") FROM "{table.name}")'
    await conn.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence(:t, :c), COALESCE({top}, 1), {top} IS NOT NULL)"
        ),
        {"t": f'"{table.name}"', "c": column.name},
    )


async def counts(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        return {
            t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar() or 0)
            for t in tables()
        }


async def load(db: Database, lines: Iterable[str], *, replace: bool = False) -> Summary:
    """Import an export into `db` (migrated first); returns the verified summary."""
    head, rows, expected = read(lines)
    await migrate(db)
    async with db.engine.begin() as conn:
        revision = await _revision(conn)
        if head.get("revision") != revision:
            raise TransferError("other_revision", theirs=head.get("revision"), ours=revision)
        held = {
            t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar() or 0)
            for t in tables()
        }
        if any(held.values()) and not replace:
            busy = ", ".join(f"{name} ({n})" for name, n in held.items() if n)
            raise TransferError("not_empty", tables=busy)
        for table in reversed(tables()):
            await conn.execute(delete(table))
        for table in tables():
            if rows[table.name]:
                await _insert(conn, table, rows[table.name])
            if db.postgres:
                await _restart_sequences(conn, table)
        found = await _tally(conn)
        for name, want in expected.items():
            if found.get(name) != want:
                raise TransferError("mismatch", table=name)  # rolls the transaction back
    return found
