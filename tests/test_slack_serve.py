"""`ownit serve` as a real process answers Slack: signed requests in, the fake Web API called."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from bot.runtime.app import example_org_file
from tests.fakes.slack_api import SECRET, Driver, FakeSlack, readable, sign, text_of

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served(sqlite_url: str) -> AsyncIterator[Driver]:
    fake = await FakeSlack().start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_"))}
    env.update(
        DATABASE_URL=sqlite_url,
        OWNIT_ORG_FILE=str(example_org_file()),
        OWNIT_TIMEZONE="Europe/London",
        PORT=str(port),
        HOST="127.0.0.1",
        SLACK_BOT_TOKEN="xoxb-serve",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.url,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "handlers.cli",
        "serve",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    drive = Driver(f"http://127.0.0.1:{port}", fake)
    try:
        for _ in range(300):
            if proc.returncode is not None:
                err = await proc.stderr.read() if proc.stderr else b"died"
                raise RuntimeError(err.decode())
            try:
                _r, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        yield drive
    finally:
        await drive.close()
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
        await fake.close()


async def test_ownit_serve_answers_slack(served: Driver) -> None:
    body = served.command_body("alex", "open Acme: invoice wrong")
    forged = await served.post(
        body, "application/x-www-form-urlencoded", signed=sign(body, secret="wrong")
    )
    assert forged.status == 401
    r = await served.post(body, "application/x-www-form-urlencoded")
    assert r.status == 200 and r.seconds < 3
    card = (await served.fake.wait_for("chat.postMessage", channel="CSUPPORT", within=15))[0]
    assert "C-1 · Acme" in readable(text_of(card))
