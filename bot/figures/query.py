"""The SQL helpers every figure uses: typed execution, id matching, counting, concurrent reads."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Integer, any_, case, false, func, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database


def is_pg(session: AsyncSession) -> bool:
    bind = session.bind
    return bind is not None and bind.dialect.name == "postgresql"


def among(column: Any, ids: Sequence[int], *, pg: bool) -> ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL `column = ANY($1::int[])`, one parameter however many ids.

    Hundreds of expanded parameters cost more to render and prepare than the query costs to run.
    """
    if not ids:
        return false()
    if pg:
        return column == any_(literal(list(ids), type_=ARRAY(Integer)))  # type: ignore[no-any-return]
    return column.in_(ids)  # type: ignore[no-any-return]


async def execute(session: AsyncSession, stmt: Any, params: dict[str, Any] | None = None) -> Any:
    """Run a core select (sqlmodel's overloads do not type multi-column aggregates)."""
    return await session.exec(stmt, params=params)


def ones(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


async def reads(
    session: AsyncSession,
    db: Database | None,
    jobs: dict[str, Callable[[AsyncSession], Awaitable[Any]]],
) -> dict[str, Any]:
    """Run read jobs: in the given session one after another, or concurrently on PostgreSQL.

    SQLite gets no concurrency: its sessions take the file's write lock when they begin.
    """
    if db is None or not db.postgres:
        return {name: await job(session) for name, job in jobs.items()}

    async def one(job: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with db.reader() as s:
            return await job(s)

    values = await asyncio.gather(*(one(job) for job in jobs.values()))
    return dict(zip(jobs, values, strict=True))
