"""Timers live with the data: a killed process loses no ladder step and fires none twice.

Real `ownit serve` processes on a simulated clock shared through the database; the clock is moved
with `ownit clock advance`, as an operator would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.clock import SimClock
from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from handlers.console.terminal import Console
from storage.db import Database

REQUESTS = 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_"))}
    env.update(
        DATABASE_URL=db_url,
        OWNIT_CLOCK="sim",
        OWNIT_ORG_FILE=str(example_org_file()),
        OWNIT_TIMEZONE="Europe/London",
        PORT=str(_free_port()),
    )
    return env


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`ownit serve`, its log appended to a file: a pipe nobody reads fills up with its warnings
    (every notice no platform reaches is one) and then blocks the server's event loop."""
    with log.open("ab") as out:  # the server has its own copy of the file
        proc = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", int(env["PORT"])), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(_tail(log)) from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("ownit serve did not start")


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _advance(env: dict[str, str], duration: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "handlers.cli", "clock", "advance", duration],
        env=env,
        check=True,
        capture_output=True,
    )


async def _prepare(db_url: str) -> None:
    settings = load_settings(
        DATABASE_URL=db_url, OWNIT_ORG_FILE=str(example_org_file()), OWNIT_TIMEZONE="Europe/London"
    )
    app = await Ownit.start(settings, simulated=True)
    assert isinstance(app.clock, SimClock)
    app.clock.start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    await app.clock.now()
    console = Console(app, actor="alex", out=lambda _line: None)
    try:
        await console.line("/case open Acme: many questions promise fri 17:00")
        for i in range(REQUESTS):
            who = ("dana", "bo", "jo")[i % 3]
            await console.line(f"/case ask C-1 @{who} question {i} by tomorrow 17:00")
    finally:
        await app.close()


async def _fired(db_url: str) -> dict[str, int]:
    """How many timeline entries each step kind has, and how many timers are done."""
    db = Database(db_url)
    try:
        async with db.reader() as s:
            rows = (
                await s.exec(  # type: ignore[call-overload]
                    text(
                        "SELECT kind, count(*), count(DISTINCT request_id) FROM event "
                        "WHERE kind LIKE 'step:%' GROUP BY kind"
                    )
                )
            ).all()
            done = (
                await s.exec(text("SELECT count(*) FROM timer WHERE done"))  # type: ignore[call-overload]
            ).one()[0]
    finally:
        await db.dispose()
    out = {kind: n for kind, n, _ in rows}
    for kind, n, distinct in rows:
        assert n == distinct, f"{kind} fired twice for some request"
    out["done"] = done
    return out


def _wait_for(
    db_url: str, kind: str, count: int, timeout: float = 30, poll: float = 0.2
) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        fired = asyncio.run(_fired(db_url))
        if fired.get(kind, 0) >= count or time.monotonic() > deadline:
            return fired
        time.sleep(poll)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()


@pytest.mark.slow
def test_kill_and_restart_mid_ladder_loses_and_repeats_nothing(
    db_url: str, procs: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    asyncio.run(_prepare(db_url))
    env = _env(db_url)
    log = tmp_path / "serve.log"
    procs.append(_serve(env, log))

    # Nudges fall due (25 % of Mon 09:00 → Tue 17:00 = 4h in); kill the server while it fires.
    _advance(env, "4h1m")
    _wait_for(db_url, "step:nudge", 1, poll=0.01)  # firing has begun
    procs[-1].send_signal(signal.SIGKILL)
    procs[-1].wait()

    # While it is down, the at-risk steps fall due too (75 % = 12h of business time in).
    _advance(env, "1d")
    procs.append(_serve(env, log))
    fired = _wait_for(db_url, "step:at_risk", REQUESTS)
    assert fired.get("step:nudge") == REQUESTS
    assert fired.get("step:at_risk") == REQUESTS, _tail(log)

    # And the scheduler of the running process reacts to a clock moved by someone else.
    _advance(env, "1d")
    started = time.monotonic()
    fired = _wait_for(db_url, "step:overdue", REQUESTS)
    assert fired.get("step:overdue") == REQUESTS
    assert time.monotonic() - started < 15  # within about a second when the machine is idle
    procs[-1].send_signal(signal.SIGTERM)
    assert procs[-1].wait(timeout=10) == 0
