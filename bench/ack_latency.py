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
Each target gets a closed loop (N clients sending as fast as answered: the throughput) and then
steady open-loop rates (requests started on schedule whatever the answers do, so a slow server's
queueing counts in its latency). Latency is from the scheduled start to the answer. The load comes
from `bench/load.py`, lean enough to leave the shared CPUs to the servers; its own CPU per
request is printed beside the servers'. The fake Slack Web API that ownit posts to runs in a
process of its own, and the load's process collects no garbage during a phase: the fake keeps
every call it is sent, and a collection over that heap in the load's process had stopped the
load's clock for up to a second (counted as ownit's latency, never the bare app's). The summary
sets each target beside the faster bare app: its share of the closed-loop throughput (the bare
app's closed loop is run again after the other targets, and the reference is the mean of the two:
the shared machine drifts), and its rate and p99 at the highest steady rate that the bare app
sustains (every request answered, within 2 % of the rate, p99 under 100 ms). The rates climb
past what the bare app holds on a quiet machine, so that its limit, not the ladder's, is the bar.

ownit acknowledges once a command is kept in its inbox and handles it after; each phase ends when
its commands are handled and their requests posted in the case threads, and "handled" is the
phase's commands over the time until then (the rate at which asks became requests and posts).

    .venv/bin/python bench/ack_latency.py          # every target, rates 250 … 8500/s, 5 s each
    .venv/bin/python bench/ack_latency.py --only bare --only one --rate 1000 --rate 2000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.load import Load, Tally, request_bytes  # noqa: E402
from tests.fakes.slack_api import SECRET, TEAM, Driver, FakeSlack, sign, uid  # noqa: E402
from tests.scale_support import Replica, free_port, replica_env, wait_listening  # noqa: E402

PG = os.environ.get("OWNIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("OWNIT_BENCH_REDIS", "redis://127.0.0.1:6379/0")
FORM = "application/x-www-form-urlencoded"
CASES = 100
RATES = [250.0, 1000.0, 2500.0, 4000.0, 5500.0, 7000.0, 8500.0]
P99_TARGET = 100.0  # ms: the bar, and what "sustained" asks of the bare app
HEADER = (
    "| target | load | acknowledged | p50 | p99 | failed | server CPU | load CPU | handled |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)
BARE = (("bare bolt", "default"), ("bare bolt, before response", "before"))
SETUPS = (
    ("ownit ×1", "one", ["all"]),
    ("ownit ×3", "three", ["all"] * 3),
    ("ownit web + worker", "split", ["web", "worker"]),
    ("ownit web, worker away", "away", ["web", "worker"]),
    ("ownit web alone", "alone", ["web"]),
)


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
    load_cpu: float | None = None  # CPU seconds of this process (the load and the fake Slack)

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
    def load_cpu_per_request(self) -> str:
        if self.load_cpu is None or not self.sent:
            return "—"
        return f"{self.load_cpu / self.sent * 1e6:.0f} µs"

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        offered = f"{self.offered:.0f}/s" if self.offered else "max"
        return (
            f"| {self.target} | {self.mode} {offered} | {self.throughput:.0f}/s | "
            f"{self.pct(50):.1f} ms | {self.pct(99):.1f} ms | {self.sent - self.ok} | "
            f"{self.cpu_per_ack} | {self.load_cpu_per_request} | {self.handled} |"
        )


class Asks:
    """Signed slash commands as whole HTTP requests, each with its own trigger id, made before
    the phase that sends them (so that making them costs the phase nothing)."""

    def __init__(self, fake: FakeSlack, port: int) -> None:
        self.driver = Driver(f"http://127.0.0.1:{port}", fake)
        self.host = f"127.0.0.1:{port}"
        self.n = 0

    def request(self, text: str) -> bytes:
        body = self.driver.command_body("alex", text).encode()
        headers = {"Content-Type": FORM, **sign(body.decode())}
        return request_bytes(self.host, "/slack/events", body, headers)

    def opens(self) -> list[bytes]:
        return [self.request(f"open Customer {i}: bench issue {i}") for i in range(CASES)]

    def asks(self, count: int) -> list[bytes]:
        made = []
        for _ in range(count):
            i, self.n = self.n, self.n + 1
            made.append(self.request(f"ask C-{1 + i % CASES} <@{uid('dana')}> question {i}? by 4h"))
        return made

    def stream(self, first: int) -> Iterator[bytes]:
        """`first` made now, then more as they are needed (a closed loop faster than foreseen)."""

        def more() -> Iterator[bytes]:
            while True:
                yield from self.asks(100)

        return itertools.chain(self.asks(first), more())


class SlackProcess:
    """The fake Slack Web API in a process of its own (see the module's docstring)."""

    def __init__(self, logs: Path) -> None:
        self.fake = FakeSlack(port=free_port())  # not started here: its settings and hook URLs
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--fake-slack", str(self.fake.port)],
            stdout=subprocess.DEVNULL,
            stderr=(logs / "fake-slack.log").open("a"),
        )
        wait_listening(self.fake.port, self.proc)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def fake_slack_server(port: int) -> None:
    async def serve() -> None:
        await FakeSlack().start(port)
        await asyncio.Event().wait()

    asyncio.run(serve())


@contextmanager
def no_collections() -> Iterator[None]:
    """The load's clock must not stop for the garbage collector during a phase."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def phase(target: str, mode: str, offered: float | None, tally: Tally) -> Stats:
    return Stats(target, mode, offered, tally.sent, tally.ok, tally.seconds, tally.latencies)


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


LEFT = """
SELECT (SELECT count(*) FROM inbox)
     + (SELECT count(*) FROM request WHERE thread IS NULL)
"""  # commands not handled, requests not posted in their case thread (or still being posted)


async def drained(db: str | None, since: float) -> float | None:
    """Seconds from `since` until every command is handled and every request posted in its case
    thread (None for the bare app): a phase's leftovers would otherwise take the CPU from the
    next one. The DMs are not waited for: every ask here goes to the same colleague, and Slack
    takes about one message a second per conversation, which the outbox keeps to."""
    if db is None:
        return None
    conn = await asyncpg.connect(db)
    try:
        while True:
            if not await conn.fetchval(LEFT):
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    return time.perf_counter() - since


async def measure(
    target: str,
    ports: list[int],
    fake: FakeSlack,
    args: argparse.Namespace,
    pids: list[int],
    rates: list[float],
    db: str | None = None,
    paused: list[int] | None = None,
) -> list[Stats]:
    out = []
    load = Load([("127.0.0.1", p) for p in ports])
    asks = Asks(fake, ports[0])
    await load.closed(iter(asks.opens()), 4, 60)  # the cases the asks go to
    await drained(db, 0)
    await load.closed(asks.stream(2000), args.clients, 2)  # warm-up
    await drained(db, 0)
    for rate in [None, *rates]:
        if rate is None:
            requests = asks.stream(int(4000 * args.seconds))
        else:
            batch = asks.asks(int(rate * args.seconds))
        for pid in paused or []:
            os.kill(pid, signal.SIGSTOP)
        with no_collections():
            began, cpu, mine = time.perf_counter(), cpu_seconds(pids), time.process_time()
            if rate is None:
                tally = await load.closed(requests, args.clients, args.seconds)
                stats = phase(target, "closed", None, tally)
            else:
                pool = max(16, int(rate / 50))
                stats = phase(target, "steady", rate, await load.steady(batch, rate, pool))
        stats.cpu = cpu_seconds(pids) - cpu
        stats.load_cpu = time.process_time() - mine
        for pid in paused or []:
            os.kill(pid, signal.SIGCONT)
        stats.handled_in = await drained(db, began)
        out.append(stats)
        print(stats.line(), flush=True)
    return out


def upto(results: list[Stats], rates: list[float]) -> list[float]:
    """The rates up to the highest the bare app sustained (all of them when it was not run): a
    rate above it is no part of the figure, and each costs ownit minutes of handling after."""
    limit = bare_limit(results)
    return rates if limit is None else [r for r in rates if r <= (limit.offered or 0)]


def bare_limit(results: list[Stats]) -> Stats | None:
    """The bare app's highest steady rate sustained, by either of its forms."""
    bares = {s.target for s in results if s.target.startswith("bare")}
    kept = [k for t in bares if (k := sustained(of(results, t)))]
    return max(kept, key=lambda s: s.offered or 0, default=None)


def sustained(runs: list[Stats]) -> Stats | None:
    """The highest steady rate answered in full, on time (within 2 %), with p99 under 100 ms."""
    good = [
        s
        for s in runs
        if s.mode == "steady"
        and s.offered
        and s.ok == s.sent
        and s.throughput >= 0.98 * s.offered
        and s.pct(99) < P99_TARGET
    ]
    return max(good, key=lambda s: s.offered or 0, default=None)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=float, action="append", help="steady rates to offer (per s)")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--clients", type=int, default=64, help="closed-loop concurrency")
    targets = ["bare", "one", "three", "split", "away", "alone"]
    p.add_argument("--only", choices=targets, action="append")
    args = p.parse_args()
    args.rate = args.rate or RATES
    only = set(args.only or targets)
    logs = Path(tempfile.mkdtemp(prefix="ownit-bench-"))
    slack = SlackProcess(logs)
    fake = slack.fake
    results: list[Stats] = []
    print(f"CPUs: {os.cpu_count()}; logs in {logs}")
    print(HEADER)
    try:
        for label, mode in BARE:
            if "bare" in only:
                results += await bare(label, mode, fake, args, logs, args.rate)
        for label, key, roles in SETUPS:
            if key not in only:
                continue
            name, url = await fresh_database()
            replicas: list[Replica] = []
            try:
                settings = fake.env(OWNIT_CLOCK="real")
                for i, role in enumerate(roles):
                    env = replica_env(url, redis_url=REDIS, OWNIT_ROLE=role, **settings)
                    r = Replica(env, logs / f"{key}-{i}-{role}.log")
                    if role == "worker":
                        os.setpriority(os.PRIO_PROCESS, r.proc.pid, 10)
                    r.wait_ready(60)  # the first migrates the database before the others start
                    replicas.append(r)
                ports = [
                    r.port for r, role in zip(replicas, roles, strict=True) if role != "worker"
                ]
                pids = [r.proc.pid for r in replicas]
                workers = [
                    r.proc.pid for r, role in zip(replicas, roles, strict=True) if role == "worker"
                ]
                away = workers if key == "away" else []
                db = None if key == "alone" else url
                results += await measure(
                    label, ports, fake, args, pids, upto(results, args.rate), db, away
                )
            finally:
                for r in replicas:
                    r.stop()
                await drop_database(name)
        if "bare" in only and only - {"bare"}:  # the machine drifts: the reference again, last
            results += await bare(*BARE[-1], fake, args, logs, [])
    finally:
        slack.close()
    summary(results)


async def bare(
    label: str,
    mode: str,
    fake: FakeSlack,
    args: argparse.Namespace,
    logs: Path,
    rates: list[float],
) -> list[Stats]:
    port = free_port()
    server = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, __file__, "--bare-server", str(port), mode],
        stdout=subprocess.DEVNULL,
        stderr=(logs / f"bare-{mode}.log").open("a"),
    )
    try:
        wait_listening(port, server)
        return await measure(label, [port], fake, args, [server.pid], rates)
    finally:
        server.terminate()
        server.wait()


def summary(results: list[Stats]) -> None:
    """Each target beside the faster bare app: throughput and CPU per acknowledgement in the
    closed loop, p99 and rate at the highest steady rate the bare app sustains."""
    bares = [s for s in results if s.target.startswith("bare") and s.mode == "closed"]
    if not bares:
        return
    best = max(bares, key=lambda s: s.throughput)
    again = [s for s in bares if s.target == best.target]
    reference = sum(s.throughput for s in again) / len(again)  # first and last, when run twice
    kept = bare_limit(results)
    runs = " and ".join(f"{s.throughput:.0f}/s" for s in again)
    print(f"\nreference: {best.target}, {reference:.0f}/s in the closed loop ({runs})", end="")
    print(f"; highest steady rate sustained: {kept.offered:.0f}/s" if kept else "")
    for target in dict.fromkeys(s.target for s in results):
        mine = of(results, target)
        closed = next((s for s in mine if s.mode == "closed"), None)
        if closed is None or closed.target == best.target:
            continue
        line = f"{target}: {closed.throughput / reference * 100:.0f} % of its throughput"
        if closed.cpu and best.cpu:
            cost = (closed.cpu / closed.ok) / (best.cpu / best.ok)
            line += f", {cost:.2f}× its CPU per acknowledgement"
        at = next((s for s in mine if kept and s.offered == kept.offered), None)
        if at is not None:
            line += f"; at {at.offered:.0f}/s: {at.throughput:.0f}/s, p99 {at.pct(99):.1f} ms"
        print(line)


def of(results: list[Stats], target: str) -> list[Stats]:
    return [s for s in results if s.target == target]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--bare-server":
        bare_server(int(sys.argv[2]), before_response=sys.argv[3] == "before")
    elif len(sys.argv) == 3 and sys.argv[1] == "--fake-slack":
        fake_slack_server(int(sys.argv[2]))
    else:
        asyncio.run(main())
