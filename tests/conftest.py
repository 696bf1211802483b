"""Shared fixtures: databases (SQLite and the local PostgreSQL), Redis, and an ownit app.

PostgreSQL and Redis are the real servers of the machine. Under CI=true a missing server fails
the test loudly; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from handlers.console.terminal import Console, ConsoleChannel
from storage.db import Database
from storage.migrate import migrate

CI = os.environ.get("CI", "").lower() == "true"
PG_HOST = os.environ.get("OWNIT_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("OWNIT_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("OWNIT_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("OWNIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Hypothesis: no per-example deadline (the machine is shared: a slow example is not a failure).
# Under CI no example database is kept (a clean clone writes nothing) and a failure prints the
# blob that reproduces it. A test that needs more examples than hypothesis's 100, or fewer
# because each is expensive, says so in its own @settings.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if CI else "dev"))


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_server(name: str, host: str, port: int) -> None:
    if _listening(host, port):
        return
    message = f"{name} is not running on {host}:{port}"
    if CI:
        pytest.fail(f"{message} (required under CI=true)")
    pytest.skip(message)


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_name(kind: str) -> str:
    """A database name no other test, xdist worker or concurrent run on the server will pick."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"ownit_{kind}_{worker}_{uuid.uuid4().hex[:12]}"


def _pg_url(name: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await migrate(db)
    finally:
        await db.dispose()


def _drop(name: str) -> None:
    """Dropped at once, its connections with it: a connection a test left open (an engine not
    disposed, a process killed) must not stay and count against the server's limit."""
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    """A PostgreSQL database migrated to head once a session (and xdist worker); each test's
    database is a copy of it, so alembic runs per session, not per test."""
    need_server("PostgreSQL", PG_HOST, PG_PORT)
    name = _pg_name("template")
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(_migrate(_pg_url(name)))
        yield name
    finally:
        _drop(name)


@pytest.fixture
def pg_empty_url() -> Iterator[str]:
    """A fresh PostgreSQL database with no tables at all (what `ownit migrate` starts from)."""
    need_server("PostgreSQL", PG_HOST, PG_PORT)
    name = _pg_name("test")
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        _drop(name)


@pytest.fixture
def pg_url(_pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, migrated and without rows, dropped afterwards."""
    name = _pg_name("test")
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{_pg_template}"'))
    try:
        yield _pg_url(name)
    finally:
        _drop(name)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once a session; each test's file is a copy of it."""
    path = tmp_path_factory.mktemp("template") / "ownit.db"
    asyncio.run(_migrate(f"sqlite:///{path}"))
    assert not path.with_name("ownit.db-wal").exists()  # all of it is in the one file
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """A fresh SQLite file for one test, migrated and without rows."""
    shutil.copyfile(_sqlite_template, tmp_path / "ownit.db")
    return f"sqlite:///{tmp_path / 'ownit.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs on SQLite and on the local PostgreSQL (a fresh database, migrated
    and without rows)."""
    return str(request.getfixturevalue(f"{'pg' if request.param == 'postgres' else 'sqlite'}_url"))


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Like `db_url`, but a database with no tables yet: for the migrations themselves."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return str(request.getfixturevalue("pg_empty_url"))


@pytest.fixture
def redis_url() -> str:
    need_server("Redis", "127.0.0.1", 6379)
    return REDIS_URL


class ConsoleBot:
    """The console as a test backend: `await bot.say("/case …")` returns what was printed."""

    def __init__(self, app: Ownit, console: Console, lines: list[str]) -> None:
        self.app = app
        self.console = console
        self.lines = lines

    async def say(self, text: str, *, as_: str | None = None) -> str:
        if as_:
            self.console.actor = as_
        start = len(self.lines)
        await self.console.line(text)
        return "\n".join(self.lines[start:])

    def to(self, handle: str, output: str) -> str:
        """The messages addressed to @handle in some output."""
        blocks, current = [], None
        for line in output.splitlines():
            if line.startswith("→ @"):
                current = line.startswith(f"→ @{handle}:") or line.startswith(f"→ @{handle} (")
                if current:
                    blocks.append(line)
            elif current and line.startswith("   "):
                blocks[-1] += "\n" + line
            else:
                current = False
        return "\n".join(blocks)


@pytest.fixture
async def bot(db_url: str) -> AsyncIterator[ConsoleBot]:
    """ownit with the example organisation, a simulated clock at Mon 23 Nov 2026 09:00 London."""
    from datetime import UTC, datetime

    from bot.clock import SimClock

    lines: list[str] = []
    settings = load_settings(
        DATABASE_URL=db_url, OWNIT_ORG_FILE=str(example_org_file()), OWNIT_TIMEZONE="Europe/London"
    )
    app = await Ownit.start(settings, simulated=True, channels=[ConsoleChannel(lines.append)])
    assert isinstance(app.clock, SimClock)
    app.clock.start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    await app.clock.now()
    try:
        yield ConsoleBot(app, Console(app, actor="alex", out=lines.append), lines)
    finally:
        await app.close()


@pytest.fixture
async def fake() -> AsyncIterator[Any]:
    """A fake Slack Web API on a loopback port, recording every call."""
    from tests.fakes.slack_api import FakeSlack

    slack = await FakeSlack().start()
    try:
        yield slack
    finally:
        await slack.close()


@pytest.fixture
async def fake_openai() -> AsyncIterator[Any]:
    """A fake OpenAI-compatible server on a loopback port, recording every request."""
    from tests.fakes.openai import FakeOpenAI

    server = await FakeOpenAI().start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def ws(sqlite_url: str, fake: Any) -> AsyncIterator[Any]:
    """ownit's web server with Slack mounted, on SQLite, talking to the fake Slack."""
    from tests.fakes.slack_api import start_ownit

    workspace = await start_ownit(sqlite_url, fake)
    try:
        yield workspace
    finally:
        await workspace.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist (`make test`), the tests marked `slow` (each runs processes for tens of
    seconds) go first, one after the other on one worker, while the other workers take the
    short ones: together they would starve each other of CPU and database connections."""
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group("slow"))
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
