"""Acknowledgement latency and throughput of signed `/case ask` commands, beside a bare bolt app.

In one run, on the same machine, the same signed Slack slash commands go to:
- bare: a slack-bolt `AsyncApp` with an empty `/case` handler (`await ack()`), on aiohttp, with
  bolt's defaults and with `process_before_response=True` (what ownit uses); the faster of the two
  is the reference;
- ownit ×1: one `ownit serve` process (PostgreSQL, Redis, a fake Slack Web API);
- ownit ×3: three `ownit serve` processes, the requests spread round-robin, as a load balancer;
- ownit web + worker: one process that only acknowledges (`OWNIT_ROLE=web`) and one that handles
  (`OWNIT_ROLE=worker`) at a lower CPU priority, as when the two share a machine: handling then
  takes the CPU that acknowledgements leave;
- ownit web, worker away: the same two, the worker stopped (SIGSTOP) while the load runs and let
  go after it, as when workers run on CPUs of their own: the acknowledgements alone, then the
  backlog handled;
- ownit web alone: one web process and no worker at all (nothing is handled; what the
  acknowledgements cost, with nothing else on the machine but the load and the databases).
Each target gets a closed loop (N clients sending as fast as answered: the throughput) and then a
steady open-loop rate (requests started on schedule whatever the answers do, so a slow server's
queueing counts in its latency). Latency is from the scheduled start to the answer.

ownit acknowledges once a command is kept in its inbox and handles it after; each phase ends when
the inbox is empty again, and "handled" is the phase's commands over the time until then (the
rate at which asks became requests, threads and DMs).

    .venv/bin/python bench/ack_latency.py                       # rates 25 50 100, 10 s each
    .venv/bin/python bench/ack_latency.py --rate 50 --rate 200 --seconds 15 --clients 16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from tests.fakes.slack_api import SECRET, TEAM, Driver, FakeSlack, sign, uid  # noqa: E402
from tests.scale_support import Replica, free_port, replica_env, wait_listening  # noqa: E402

PG = os.environ.get("OWNIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("OWNIT_BENCH_REDIS", "redis://127.0.0.1:6379/0")
FORM = "application/x-www-form-urlencoded"
CASES = 100


@dataclass
class Stats:
    target: str
    mode: str
    offered: float | None
    sent: int
    ok: int
    seconds: float
    latencies: list[float]
    handled_in: float | None = None  # seconds until the last command was handled
    cpu: float | None = None  # CPU seconds the server processes used during the phase

    @property
    def handled(self) -> str:
        if self.handled_in is None:
            return "—"
        return f"{self.ok / self.handled_in:.0f}/s"

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] * 1000

    @property
    def cpu_per_ack(self) -> str:
        if self.cpu is None or not self.ok:
            return "—"
        return f"{self.cpu / self.ok * 1e6:.0f} µs"

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        offered = f"{self.offered:.0f}/s" if self.offered else "max"
        return (
            f"| {self.target} | {self.mode} {offered} | {self.throughput:.0f}/s | "
            f"{self.pct(50):.1f} ms | {self.pct(99):.1f} ms | {self.sent - self.ok} | "
            f"{self.cpu_per_ack} | {self.handled} |"
        )


class Load:
    """Signed slash commands, each with its own trigger id, spread round-robin over `bases`."""

    def __init__(self, bases: list[str], fake: FakeSlack) -> None:
        self.bases = bases
        self.driver = Driver(bases[0], fake)
        self.session: aiohttp.ClientSession | None = None
        self.n = 0

    async def __aenter__(self) -> Load:
        conn = aiohttp.TCPConnector(limit=0)
        self.session = aiohttp.ClientSession(connector=conn)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.session is not None
        await self.session.close()

    def body(self, text: str) -> str:
        return self.driver.command_body("alex", text)

    async def send(self, body: str) -> bool:
        assert self.session is not None
        base = self.bases[self.n % len(self.bases)]
        self.n += 1
        headers = {"Content-Type": FORM, **sign(body)}
        try:
            async with self.session.post(f"{base}/slack/events", data=body, headers=headers) as r:
                await r.read()
                return r.status == 200
        except aiohttp.ClientError:
            return False

    def ask(self, i: int) -> str:
        return self.body(f"ask C-{1 + i % CASES} <@{uid('dana')}> question {i}? by 4h")

    async def closed(self, target: str, clients: int, seconds: float) -> Stats:
        lat: list[float] = []
        ok = sent = 0
        end = time.perf_counter() + seconds
        counter = iter(range(10**9))

        async def client() -> None:
            nonlocal ok, sent
            while time.perf_counter() < end:
                body = self.ask(next(counter))
                t = time.perf_counter()
                good = await self.send(body)
                sent += 1
                if good:
                    ok += 1
                    lat.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return Stats(target, "closed", None, sent, ok, time.perf_counter() - start, lat)

    async def steady(self, target: str, rate: float, seconds: float) -> Stats:
        lat: list[float] = []
        ok = 0
        total = int(rate * seconds)
        bodies = [self.ask(i) for i in range(total)]
        start = time.perf_counter()

        async def one(i: int) -> None:
            nonlocal ok
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if await self.send(bodies[i]):
                ok += 1
                lat.append(time.perf_counter() - due)

        await asyncio.gather(*(one(i) for i in range(total)))
        return Stats(target, "steady", rate, total, ok, time.perf_counter() - start, lat)


# --- the bare bolt app (run in its own process) ---------------------------------------------


def bare_server(port: int, before_response: bool) -> None:
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_bolt.authorization import AuthorizeResult

    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id=TEAM, bot_token="xoxb-bare")

    bolt = AsyncApp(
        signing_secret=SECRET, authorize=authorize, process_before_response=before_response
    )

    @bolt.command("/case")
    async def empty(ack: Any) -> None:
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", events)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux `/proc`)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


# --- orchestration --------------------------------------------------------------------------


async def fresh_database() -> tuple[str, str]:
    name = f"ownit_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return name, f"{PG}/{name}"


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(PG + "/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def drained(db: str | None, since: float) -> float | None:
    """Seconds from `since` until ownit's inbox is empty (None for the bare app)."""
    if db is None:
        return None
    conn = await asyncpg.connect(db)
    try:
        while True:
            if not await conn.fetchval("SELECT count(*) FROM inbox"):
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    return time.perf_counter() - since


async def measure(
    target: str,
    bases: list[str],
    fake: FakeSlack,
    args: argparse.Namespace,
    pids: list[int],
    db: str | None = None,
    paused: list[int] | None = None,
) -> list[Stats]:
    out = []
    async with Load(bases, fake) as load:
        for i in range(CASES):  # warm-up, and the cases the asks go to
            await load.send(load.body(f"open Customer {i}: bench issue {i}"))
        await drained(db, 0)
        await load.closed(target, args.clients, 2)  # warm-up
        await drained(db, 0)
        phases = [None, *(args.rate or [25, 50, 100])]
        for rate in phases:
            for pid in paused or []:
                os.kill(pid, signal.SIGSTOP)
            began, cpu = time.perf_counter(), cpu_seconds(pids)
            if rate is None:
                stats = await load.closed(target, args.clients, args.seconds)
            else:
                stats = await load.steady(target, rate, args.seconds)
            stats.cpu = cpu_seconds(pids) - cpu
            for pid in paused or []:
                os.kill(pid, signal.SIGCONT)
            stats.handled_in = await drained(db, began)
            out.append(stats)
            print(stats.line(), flush=True)
    return out


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=float, action="append", help="steady rates to offer (per s)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--clients", type=int, default=16, help="closed-loop concurrency")
    targets = ["bare", "one", "three", "split", "away", "alone"]
    p.add_argument("--only", choices=targets, action="append")
    args = p.parse_args()
    only = set(args.only or targets)
    fake = await FakeSlack().start()
    logs = Path(tempfile.mkdtemp(prefix="ownit-bench-"))
    results: list[Stats] = []
    print(f"CPUs: {os.cpu_count()}; logs in {logs}")
    print("| target | load | acknowledged | p50 | p99 | failed | server CPU | handled |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    try:
        for label, mode in (("bare bolt", "default"), ("bare bolt, before response", "before")):
            if "bare" not in only:
                break
            port = free_port()
            bare = subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, __file__, "--bare-server", str(port), mode],
                stdout=subprocess.DEVNULL,
                stderr=(logs / f"bare-{mode}.log").open("wb"),
            )
            try:
                wait_listening(port, bare)
                base = f"http://127.0.0.1:{port}"
                results += await measure(label, [base], fake, args, [bare.pid])
            finally:
                bare.terminate()
                bare.wait()
        setups = (
            ("ownit ×1", "one", ["all"]),
            ("ownit ×3", "three", ["all"] * 3),
            ("ownit web + worker", "split", ["web", "worker"]),
            ("ownit web, worker away", "away", ["web", "worker"]),
            ("ownit web alone", "alone", ["web"]),
        )
        for label, key, roles in setups:
            if key not in only:
                continue
            name, url = await fresh_database()
            replicas: list[Replica] = []
            try:
                slack = fake.env(OWNIT_CLOCK="real")
                for i, role in enumerate(roles):
                    env = replica_env(url, redis_url=REDIS, OWNIT_ROLE=role, **slack)
                    r = Replica(env, logs / f"{key}-{i}-{role}.log")
                    if role == "worker":
                        os.setpriority(os.PRIO_PROCESS, r.proc.pid, 10)
                    r.wait_ready(60)  # the first migrates the database before the others start
                    replicas.append(r)
                bases = [
                    f"http://127.0.0.1:{r.port}"
                    for r, role in zip(replicas, roles, strict=True)
                    if role != "worker"
                ]
                pids = [r.proc.pid for r in replicas]
                workers = [
                    r.proc.pid for r, role in zip(replicas, roles, strict=True) if role == "worker"
                ]
                away = workers if key == "away" else []
                results += await measure(
                    label, bases, fake, args, pids, db=None if key == "alone" else url, paused=away
                )
            finally:
                for r in replicas:
                    r.stop()
                await drop_database(name)
    finally:
        await fake.close()

    bares = [s for s in results if s.target.startswith("bare") and s.mode == "closed"]
    if bares:
        best = max(bares, key=lambda s: s.throughput)
        print(f"\nreference: {best.target}, {best.throughput:.0f}/s")
        for s in results:
            if s.mode == "closed" and s is not best:
                share = s.throughput / best.throughput * 100
                line = f"{s.target}: {share:.0f} % of the bare app's throughput"
                if s.cpu and best.cpu:
                    cost = (s.cpu / s.ok) / (best.cpu / best.ok)
                    line += f", {cost:.2f}× its CPU per acknowledgement"
                print(line)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--bare-server":
        bare_server(int(sys.argv[2]), before_response=sys.argv[3] == "before")
    else:
        asyncio.run(main())
