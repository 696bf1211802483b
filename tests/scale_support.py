"""Helpers for the scale-out tests and benchmarks: a private Redis, a cuttable TCP proxy, replicas.

The machine's own Redis and PostgreSQL stay up for everyone else: faults are made on a
`redis-server` of our own on a free port, and on a proxy in front of PostgreSQL that can be cut.
Run as a module, it is a load generator process: `python -m tests.scale_support create …`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from bot.runtime.app import example_org_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process on port {port} died ({proc.returncode})") from None
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


class RedisServer:
    """A throw-away redis-server (no persistence) that a test may kill and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(self.port, self.proc)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Proxy:
    """A TCP proxy to one upstream that can be cut (connections dropped, new ones refused)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.listen_port = 0
        self.cut = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def sever(self) -> None:
        """Drop every connection and refuse new ones, as a database that went away."""
        self.cut = True
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.cut = False

    async def close(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


def replica_env(db_url: str, *, redis_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_"))}
    env.update(
        DATABASE_URL=db_url,
        OWNIT_CLOCK="sim",
        OWNIT_ORG_FILE=str(example_org_file()),
        OWNIT_TIMEZONE="Europe/London",
        OWNIT_LOG_LEVEL="WARNING",
        OWNIT_DB_POOL="6",  # three replicas and the other tests stay under the server's 100
        PORT=str(free_port()),
        REDIS_URL=redis_url or "",
    )
    env.update(extra)
    return env


class Replica:
    """One `ownit serve` process; its log goes to a file so a full pipe never blocks it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.port = int(env["PORT"])
        self.log_path = log
        self._log: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "serve"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        try:
            wait_listening(self.port, self.proc, timeout)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.log()[-3000:]}") from None

    def sigkill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


# --- a load generator process ---------------------------------------------------------------


async def _create(prefix: str, cases: int, asks: list[str]) -> None:
    from bot.commands import service as dispatch
    from bot.runtime.app import Ownit
    from bot.runtime.config import load_settings

    app = await Ownit.start(load_settings())
    try:
        for i in range(cases):
            origin = dispatch.Origin("console", "alex")
            opened = await dispatch.handle(
                app, f"/case open Cust {prefix}-{i}: issue {i}", origin, key=f"{prefix}:open:{i}"
            )
            # The platform retries: the same delivery again must change nothing.
            again = await dispatch.handle(
                app, f"/case open Cust {prefix}-{i}: issue {i}", origin, key=f"{prefix}:open:{i}"
            )
            assert opened.ok and again.case == opened.case, (opened.plain(), again.plain())
            target = asks[i % len(asks)]
            text = f"/case ask {opened.case} {target} question {i}? by 4h"
            for _ in range(2):
                asked = await dispatch.handle(app, text, origin, key=f"{prefix}:ask:{i}")
                assert asked.ok, asked.plain()
    finally:
        await app.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.scale_support")
    sub = p.add_subparsers(dest="cmd", required=True)
    create = sub.add_parser("create", help="open cases and ask a colleague in each, twice each")
    create.add_argument("--prefix", required=True)
    create.add_argument("--cases", type=int, default=100)
    create.add_argument("--ask", action="append", default=None)
    args = p.parse_args(argv)
    if args.cmd == "create":
        asyncio.run(_create(args.prefix, args.cases, args.ask or ["@dana", "@kenji", "@billing"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
