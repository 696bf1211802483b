"""The request's INSERT and the appended rows, sent to asyncpg itself (`storage.driver`): the rows
read back as SQLAlchemy would have written them, and a failure is SQLAlchemy's, a lost connection
let go of so that the pool never hands it out again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.commands import service as dispatch
from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from storage.appends import append
from storage.db import get_row, insert_row
from storage.states import RequestStatus
from storage.tables import Case, Delivery, Request

pytestmark = pytest.mark.postgres

ALEX = dispatch.Origin("console", "alex")


@pytest.fixture
async def app(pg_url: str) -> AsyncIterator[Ownit]:
    settings = load_settings(DATABASE_URL=pg_url, OWNIT_ORG_FILE=str(example_org_file()))
    app = await Ownit.start(settings, simulated=True)
    try:
        assert (await dispatch.handle(app, "/case open Acme: invoice wrong", ALEX)).ok
        yield app
    finally:
        await app.close()


async def _backend(s: AsyncSession) -> int:
    conn = await s.connection()
    return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_an_asked_request_reads_back_as_it_was_kept(app: Ownit) -> None:
    reply = await dispatch.handle(app, "/case ask C-1 @dana is it paid? by 4h", ALEX, key="k1")
    assert reply.ok and reply.request == "R-1"
    async with app.db.reader() as s:
        req = (await s.exec(select(Request))).one()
        key = await s.get(Delivery, "k1")
    assert req.status is RequestStatus.OPEN  # the enum, not its text
    assert req.deadline.tzinfo is not None and req.opened_at.tzinfo is not None
    assert req.question == "is it paid?" and req.case_id == 1
    assert key is not None and key.reply is not None and key.reply["request"] == "R-1"


async def test_the_kept_row_is_the_row_written(app: Ownit) -> None:
    now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    async with app.db.session() as s:
        kept = await insert_row(
            s, Request, case_id=1, asked_by_id=1, question="q?", opened_at=now, deadline=now
        )
        columns = {c: getattr(kept, c) for c in Request.model_fields}
    async with app.db.reader() as s:
        read = await s.get(Request, kept.id)
    assert read is not None
    assert columns == {c: getattr(read, c) for c in Request.model_fields}


async def test_a_connection_lost_mid_change_is_let_go(app: Ownit, pg_url: str) -> None:
    now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    with pytest.raises(DBAPIError) as failed:
        async with app.db.session() as s:
            await get_row(s, Case, 1, lock=True)  # the transaction has begun
            pid = await _backend(s)
            other = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
            try:
                await other.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await other.close()
            await insert_row(s, Request, case_id=1, asked_by_id=1, question="q?", deadline=now)
    assert failed.value.connection_invalidated
    # the pool hands out the last connection first: the dead one would come back if kept
    async with app.db.session() as s:
        assert await _backend(s) != pid
        assert (await s.exec(select(Request))).all() == []


async def test_a_key_already_there_fails_the_commit_and_writes_nothing(app: Ownit) -> None:
    now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    async with app.db.session() as s:
        append(s, Delivery, key="k", at=now, reply={})
    with pytest.raises(IntegrityError):
        async with app.db.session() as s:
            await get_row(s, Case, 1, lock=True)
            await insert_row(s, Request, case_id=1, asked_by_id=1, question="q?", deadline=now)
            append(s, Delivery, key="k", at=now, reply={})
    async with app.db.reader() as s:
        assert (await s.exec(select(Request))).all() == []
