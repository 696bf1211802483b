"""`OWNIT_METRICS_PORT`: `/metrics` on its own port, and then not on the public one."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

import aiohttp

from bot.runtime.app import example_org_file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _status(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as r:
        return r.status


async def test_metrics_on_their_own_port(sqlite_url: str) -> None:
    public, private = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_"))}
    env.update(
        DATABASE_URL=sqlite_url,
        OWNIT_ORG_FILE=str(example_org_file()),
        HOST="127.0.0.1",
        PORT=str(public),
        OWNIT_METRICS_PORT=str(private),
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
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            assert proc.returncode is None, await proc.stderr.read() if proc.stderr else b""
            try:
                if await _status(f"http://127.0.0.1:{private}/metrics") == 200:
                    break
            except aiohttp.ClientError:
                assert asyncio.get_running_loop().time() < deadline, "never listened"
                await asyncio.sleep(0.1)
        assert await _status(f"http://127.0.0.1:{public}/healthz") == 200
        assert await _status(f"http://127.0.0.1:{public}/metrics") == 404
        assert await _status(f"http://127.0.0.1:{private}/healthz") == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
