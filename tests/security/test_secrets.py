"""Secrets never appear in logs, errors or the command's output.

The secrets: the Slack tokens and signing secret, the Microsoft app password, and the passwords
in the database and Redis URLs. Each test gives ownit known values, makes something fail (Redis
and the Slack API unreachable, the database refused, a URL malformed, an unexpected error), waits
for the lines that prove the failure was reported, and looks for the values in everything written.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession

from bot.runtime.app import example_org_file
from bot.runtime.config import load_settings
from handlers import cli
from handlers.cli import database as cli_database
from handlers.redaction import Redactor, redact_logs
from tests.conftest import PG_HOST, PG_PORT, PG_USER, need_server

DB_PASSWORD = "db-pw-3c6f0e"
REDIS_PASSWORD = "redis-pw-8a1b7d"
TOKENS = {
    "SLACK_BOT_TOKEN": "xoxb-0000-known-bot-token-4f1c",
    "SLACK_SIGNING_SECRET": "known-signing-secret-5b2e9d",
    "SLACK_APP_TOKEN": "xapp-1-known-app-token-7d3a",
    "MICROSOFT_APP_ID": "5a3c2f10-9d1e-4c1b-8f7a-0123456789ab",
    "MICROSOFT_APP_PASSWORD": "known-ms-app-password-9Qe8",
}
SECRETS = (
    DB_PASSWORD,
    REDIS_PASSWORD,
    *(v for k, v in TOKENS.items() if k != "MICROSOFT_APP_ID"),
)


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def _env(**settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "MICROSOFT_", "OWNIT_", "TEAMS_"))
        and k not in ("DATABASE_URL", "REDIS_URL", "PORT", "HOST")
    }
    env.update(OWNIT_ORG_FILE=str(example_org_file()), **settings)
    return env


def _ownit(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


# ------------------------------------------------------------------- the server, failing around


class Lines:
    """The lines a process writes, collected as they come; `wait` until one matches."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace"))
            self._changed.set()
        self._changed.set()

    async def wait(self, pattern: str, within: float = 60) -> str:
        found = re.compile(pattern)
        async with asyncio.timeout(within):
            while True:
                for line in self.lines:
                    if found.search(line):
                        return line
                if self._task.done():
                    raise AssertionError(f"never written: {pattern}\n{self.text}")
                self._changed.clear()
                await self._changed.wait()

    async def rest(self) -> str:
        await self._task
        return self.text

    @property
    def text(self) -> str:
        return "".join(self.lines)


@pytest.mark.slow
async def test_the_server_logs_no_secret_while_redis_and_slack_fail(tmp_path: Path) -> None:
    """`ownit serve` at DEBUG, with every platform configured, Redis and the Slack API
    unreachable and a Teams request refused: not one secret in its logs or output."""
    port, dead = _closed_port(), _closed_port()
    env = _env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'ownit.db'}",
        REDIS_URL=f"redis://:{REDIS_PASSWORD}@127.0.0.1:{dead}/0",
        SLACK_API_URL=f"http://127.0.0.1:{dead}/api/",
        PORT=str(port),
        HOST="127.0.0.1",
        OWNIT_LOG_LEVEL="DEBUG",
        **TOKENS,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "handlers.cli",
        "serve",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        await err.wait(r"listening on 127\.0\.0\.1")
        await err.wait(r"Redis (unavailable|wake-ups lost)")
        await err.wait(r"auth\.test")  # the bot token was used, and failed
        await err.wait(r"apps\.connections\.open")  # the app token (Socket Mode) too
        async with ClientSession() as http:
            activity = {
                "type": "message",
                "text": "case help",
                "serviceUrl": f"http://127.0.0.1:{dead}/",
                "conversation": {"id": "a:1"},
                "from": {"id": "29:1"},
                "recipient": {"id": "28:bot"},
            }
            r = await http.post(f"http://127.0.0.1:{port}/api/messages", json=activity)
            assert r.status == 401  # no credentials: refused, and said so in the log
        await err.wait(r"teams request refused")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
    written = await out.rest() + await err.rest()
    assert _leaks(written) == [], written[-3000:]


# ------------------------------------------------------------------ the database, failing at start


@pytest.fixture
def pg_missing() -> Iterator[str]:
    """The local PostgreSQL, a password, and a database that does not exist."""
    need_server("PostgreSQL", PG_HOST, PG_PORT)
    yield f"postgresql://{PG_USER}:{DB_PASSWORD}@{PG_HOST}:{PG_PORT}/ownit_missing_db"


@pytest.mark.parametrize("where", ["refused by the server", "nobody listening"])
def test_an_unreachable_database_is_named_without_its_password(
    where: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if where == "refused by the server":
        url = str(request.getfixturevalue("pg_missing"))
    else:
        url = f"postgresql://ownit:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/ownit"
    done = _ownit(
        "migrate",
        env=_env(DATABASE_URL=url, REDIS_URL=f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0", **TOKENS),
        cwd=tmp_path,
    )
    assert done.returncode == 3, done.stderr
    assert "cannot reach the database at postgresql://" in done.stderr
    assert ":***@" in done.stderr
    assert _leaks(done.stdout + done.stderr) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", f"postgresql//ownit:{DB_PASSWORD}@127.0.0.1/ownit"),
        ("DATABASE_URL", f"mysql://ownit:{DB_PASSWORD}@127.0.0.1/ownit"),
        ("REDIS_URL", f"redis://:{REDIS_PASSWORD}@127.0.0.1:no-port/0"),
        ("REDIS_URL", f"redis//:{REDIS_PASSWORD}@127.0.0.1/0"),
    ],
)
def test_a_malformed_url_is_named_without_its_password(
    name: str, value: str, tmp_path: Path
) -> None:
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'ownit.db'}", **TOKENS, name: value}
    done = _ownit("migrate", env=_env(**settings), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"ownit: bad configuration — {name}" in done.stderr
    assert _leaks(done.stdout + done.stderr) == []


# ------------------------------------------------------------------------- in the process itself


def test_the_settings_keep_their_secrets_to_themselves() -> None:
    settings = load_settings(
        DATABASE_URL=f"postgresql://ownit:{DB_PASSWORD}@db.internal/ownit",
        REDIS_URL=f"redis://:{REDIS_PASSWORD}@redis.internal:6379/0",
        **TOKENS,
    )
    assert _leaks(repr(settings)) == [] and _leaks(str(settings)) == []
    assert set(SECRETS) <= set(settings.secrets)
    assert TOKENS["MICROSOFT_APP_ID"] not in settings.secrets  # an id, not a secret


def test_a_log_line_is_scrubbed_whatever_logged_it() -> None:
    """A library that logs a secret, as a value, in an exception or in a URL, is scrubbed."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.security.scrubbed")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        redact_logs(Redactor(SECRETS), logger)
        redact_logs(Redactor(SECRETS), logger)  # twice: replaced, not piled up
        assert len(handler.filters) == 1
        logger.warning("token %s", TOKENS["SLACK_BOT_TOKEN"])
        logger.warning("connecting to redis://:%s@somewhere:6379/0", "unknown-pw-1234")
        try:
            raise RuntimeError(f"bad password {TOKENS['MICROSOFT_APP_PASSWORD']}")
        except RuntimeError:
            logger.exception("failed with %s", DB_PASSWORD)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert _leaks(text) == [] and "unknown-pw-1234" not in text
    assert "token ***" in text and "redis://:***@somewhere" in text
    assert "RuntimeError: bad password ***" in text


def test_an_unexpected_error_is_printed_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    async def broken(_settings: object) -> None:
        raise RuntimeError(f"the platform said no to {TOKENS['SLACK_BOT_TOKEN']}")

    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'ownit.db'}")
    monkeypatch.setattr(cli_database, "migrate_command", broken)
    assert cli.main(["migrate"]) == 1
    captured = capsys.readouterr()
    assert "RuntimeError: the platform said no to ***" in captured.err
    assert _leaks(captured.out + captured.err) == []
