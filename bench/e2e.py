"""End to end: from a signed `/case ask` to the colleague's DM, for ownit and a lean reference.

In one run, on the same machine, signed Slack `/case ask C-n <@colleague> question by 4h` slash
commands go to one `ownit serve` (PostgreSQL, Redis, a fake Slack Web API in a process of its
own) and to the lean reference (`bench/lean.py`: slack-bolt, one asyncpg transaction writing the
request, its three steps and one outbox row, then the DM). The asks are spread over 400
colleagues (Slack users made in code, full members of the workspace, so each becomes a person
on first mention) and 100 cases, so that Slack's pace of about one message a second per
conversation, which ownit keeps, is not what limits.

For each target:
- a warm-up asks every colleague once (they are linked, the caches filled) through a counting
  proxy in front of PostgreSQL (`bench/wire.py`), then `--count` asks at 20/s: the round trips
  per ask, counted on the wire, less what the idle process does in the same time (measured
  just before); BEGIN, COMMIT, pings and asyncpg's prepares are round trips like any other;
- then the server is started afresh without the proxy, warmed up the same way (each colleague
  asked once: what a process up for a while has met; `--cold` leaves that out), and steady
  open-loop rates (`--rate`, `--seconds` each) are offered: the acknowledgement's latency from
  each ask's scheduled time (p50/p99), the DM's arrival at the fake Slack from the same time
  (e2e p50/p99/max), and the server process's CPU time (user + system) from the phase's start
  until its last DM and, for ownit, every ask handled and posted in its case thread, per ask;
  and the calls the fake Slack took meanwhile, per ask, by method (an answer to a command's
  `response_url` is one call; an answer on the acknowledgement is none).
A phase whose DMs are not all in within `--patience` seconds says how many came.

    .venv/bin/python bench/e2e.py                       # 25, 50, 100, 200, 400/s for 3 s each
    .venv/bin/python bench/e2e.py --rate 50 --rate 200 --only ownit
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from aiohttp import web  # noqa: E402

from bench.ack_latency import (  # noqa: E402
    FORM,
    PG,
    REDIS,
    cpu_seconds,
    drop_database,
    fresh_database,
    no_collections,
)
from bench.load import Load, request_bytes  # noqa: E402
from bench.wire import read_counts  # noqa: E402
from tests.fakes.slack_api import SECRET, Driver, FakeSlack, sign  # noqa: E402
from tests.scale_support import Replica, free_port, replica_env, wait_listening  # noqa: E402

WIRE = ROOT / "bench" / "wire.py"
COLLEAGUES = 400
CASES = 100
RATES = [25.0, 50.0, 100.0, 200.0, 400.0]
LEFT = """
SELECT (SELECT count(*) FROM inbox) + (SELECT count(*) FROM request WHERE thread IS NULL)
"""  # asks not handled, requests not posted in their case thread
TOKEN = re.compile(r"Q(\d+)X")
HEADER = (
    "| target | rate | acked | ack p50 | ack p99 | e2e p50 | e2e p99 | e2e max | DMs | CPU/ask "
    "| round trips/ask |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
    "| ---: |"
)


def colleague(n: int) -> str:
    return f"UC{n:04d}"


# --- the fake Slack, in a process of its own -------------------------------------------------


def fake_slack_server(port: int) -> None:
    """FakeSlack with the colleagues, and `GET /bench/dms`: the ask token and arrival time
    (`time.monotonic()`, the same clock as the load's `perf_counter` on Linux) of each DM."""
    fake = FakeSlack()
    for n in range(COLLEAGUES):
        handle = f"colleague{n}"
        fake.users[colleague(n)] = {
            "id": colleague(n),
            "name": handle,
            "real_name": f"Colleague {n}",
            "tz": "Europe/London",
            "is_bot": False,
            "profile": {"real_name": f"Colleague {n}", "email": f"{handle}@example.com"},
        }
    first: dict[int, float] = {}
    methods: Counter[str] = Counter()  # every call so far, by method (`response_url` one)

    def read_calls() -> None:
        calls = fake.calls
        for call in calls:
            methods[call.method] += 1
            channel = str(call.args.get("channel") or "")
            if call.method == "chat.postMessage" and channel.startswith("D") and call.status == 200:
                found = TOKEN.search(json.dumps(call.args))
                if found:
                    first.setdefault(int(found.group(1)), call.at)
        del calls[:]  # kept only until read: the fake's heap stays small

    async def dms(request: web.Request) -> web.Response:
        read_calls()
        return web.json_response(first)

    async def counts(request: web.Request) -> web.Response:
        read_calls()
        return web.json_response(methods)

    async def serve() -> None:
        await fake.start(port)
        assert fake._runner is not None
        site_app = web.Application()
        site_app.router.add_get("/bench/dms", dms)
        site_app.router.add_get("/bench/calls", counts)
        runner = web.AppRunner(site_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port + 1).start()
        await asyncio.Event().wait()

    asyncio.run(serve())


class SlackProcess:
    def __init__(self, logs: Path) -> None:
        port = free_port()
        while True:  # the DM report listens on the next port
            try:
                import socket

                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + 1))
                break
            except OSError:
                port = free_port()
        self.fake = FakeSlack(port=port)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--fake-slack", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=(logs / "fake-slack.log").open("a"),
        )
        wait_listening(port, self.proc)
        wait_listening(port + 1, self.proc)

    def dms(self) -> dict[int, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.fake.port + 1}/bench/dms") as r:
            return {int(k): float(v) for k, v in json.loads(r.read()).items()}

    def calls(self) -> Counter[str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.fake.port + 1}/bench/calls") as r:
            return Counter(json.loads(r.read()))

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


# --- the asks ----------------------------------------------------------------------------------


TOKENS = itertools.count()  # every ask of the run has its own, whichever server it goes to
TRIGGERS = itertools.count(1)


class Asks:
    """Signed slash commands made before the phase that sends them, each ask with a token."""

    def __init__(self, fake: FakeSlack, port: int) -> None:
        self.driver = Driver(f"http://127.0.0.1:{port}", fake)
        self.driver.counter = TRIGGERS  # trigger ids (delivery keys) never repeat in a run
        self.host = f"127.0.0.1:{port}"

    def request(self, text: str) -> bytes:
        body = self.driver.command_body("alex", text).encode()
        headers = {"Content-Type": FORM, **sign(body.decode())}
        return request_bytes(self.host, "/slack/events", body, headers)

    def opens(self) -> list[bytes]:
        return [self.request(f"open Customer {i}: bench issue {i}") for i in range(CASES)]

    def asks(self, count: int) -> tuple[list[int], list[bytes]]:
        tokens, made = [], []
        for _ in range(count):
            i = next(TOKENS)
            who = colleague(i % COLLEAGUES)
            tokens.append(i)
            made.append(self.request(f"ask C-{1 + i % CASES} <@{who}> question Q{i}X? by 4h"))
        return tokens, made


@dataclass
class Phase:
    target: str
    rate: float
    sent: int
    acked: int
    acks: list[float]
    e2e: list[float]
    cpu: float
    trips: float | None = None
    kinds: dict[str, float] = field(default_factory=dict)
    slack_calls: Counter[str] = field(default_factory=Counter)  # made during the phase

    @staticmethod
    def pct(xs: list[float], p: float) -> float:
        if not xs:
            return float("nan")
        xs = sorted(xs)
        return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] * 1000

    def line(self) -> str:
        e2e = self.e2e
        return (
            f"| {self.target} | {self.rate:.0f}/s | {self.acked}/{self.sent} | "
            f"{self.pct(self.acks, 50):.1f} ms | {self.pct(self.acks, 99):.1f} ms | "
            f"{self.pct(e2e, 50):.0f} ms | {self.pct(e2e, 99):.0f} ms | "
            f"{max(e2e) * 1000 if e2e else float('nan'):.0f} ms | {len(e2e)}/{self.sent} | "
            f"{self.cpu / self.sent * 1000:.2f} ms | "
            f"{self.trips if self.trips is not None else float('nan'):.1f} |"
        )


async def wait_dms(slack: SlackProcess, tokens: list[int], patience: float) -> dict[int, float]:
    deadline = time.perf_counter() + patience
    while True:
        got = await asyncio.to_thread(slack.dms)
        if all(t in got for t in tokens) or time.perf_counter() > deadline:
            return got
        await asyncio.sleep(0.1)


async def meet_colleagues(
    target: Ownit | Lean, port: int, slack: SlackProcess, asks: Asks, patience: float
) -> None:
    """Ask every colleague once and wait until all of it is done: they are linked and the
    caches filled, as in a process up for a while."""
    tokens, warm = asks.asks(COLLEAGUES)
    await Load([("127.0.0.1", port)]).steady(warm, 50.0, 16)
    await wait_dms(slack, tokens, patience)
    await target.drained(patience)


async def steady(
    target: Ownit | Lean,
    port: int,
    pid: int,
    slack: SlackProcess,
    asks: Asks,
    rate: float,
    args: argparse.Namespace,
) -> Phase:
    tokens, batch = asks.asks(int(rate * args.seconds))
    load = Load([("127.0.0.1", port)])
    calls = await asyncio.to_thread(slack.calls)
    with no_collections():
        cpu = cpu_seconds([pid])
        tally = await load.steady(batch, rate, max(16, int(rate / 10)))
    got = await wait_dms(slack, tokens, args.patience)
    await target.drained(args.patience)
    used = cpu_seconds([pid]) - cpu
    made = await asyncio.to_thread(slack.calls)
    start = tally.start
    e2e = [got[t] - (start + i / rate) for i, t in enumerate(tokens) if t in got]
    phase = Phase(target.name, rate, tally.sent, tally.ok, tally.latencies, e2e, used)
    phase.slack_calls = made - calls
    return phase


async def count_trips(
    target: Ownit | Lean,
    port: int,
    stats: int,
    slack: SlackProcess,
    asks: Asks,
    args: argparse.Namespace,
) -> tuple[float, dict[str, float]]:
    """Round trips per ask at 20/s, less the idle process's own in the same time."""
    await asyncio.sleep(3.0)  # what the warm-up left (cards, deletes) done
    await read_counts(stats, reset=True)
    await asyncio.sleep(3.0)
    idle = await read_counts(stats, reset=True)
    tokens, batch = asks.asks(args.count)
    began = time.perf_counter()
    await Load([("127.0.0.1", port)]).steady(batch, 20.0, 8)
    await wait_dms(slack, tokens, args.patience)
    await target.drained(args.patience)
    await asyncio.sleep(0.5)  # what follows the DM (marking it sent)
    busy = await read_counts(stats)
    seconds = time.perf_counter() - began
    idle_kinds = {k: float(v) / 3.0 for k, v in dict(idle["kinds"]).items()}  # type: ignore[call-overload]
    kinds = {
        k: (float(v) - idle_kinds.get(k, 0.0) * seconds) / args.count
        for k, v in dict(busy["kinds"]).items()  # type: ignore[call-overload]
    }
    total = (float(busy["total"]) - float(idle["total"]) / 3.0 * seconds) / args.count  # type: ignore[arg-type]
    return total, kinds


class Proxy:
    def __init__(self, logs: Path) -> None:
        self.port, self.stats = free_port(), free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(WIRE), str(self.port), "5432", str(self.stats)],
            stdout=subprocess.DEVNULL,
            stderr=(logs / "wire.log").open("a"),
        )
        wait_listening(self.port, self.proc)
        wait_listening(self.stats, self.proc)

    def url(self, url: str) -> str:
        return url.replace(":5432/", f":{self.port}/")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


class Ownit:
    name = "ownit"

    def __init__(self, url: str, slack: SlackProcess, logs: Path) -> None:
        self.url, self.slack, self.logs = url, slack, logs
        self.replica: Replica | None = None
        self.runs = 0

    def start(self, db_url: str) -> tuple[int, int]:
        settings = self.slack.fake.env(OWNIT_CLOCK="real")
        # The product's own pool (the tests' helper sizes it down for replicas sharing a server).
        env = replica_env(db_url, redis_url=REDIS, OWNIT_ROLE="all", OWNIT_DB_POOL="10", **settings)
        self.runs += 1
        self.replica = Replica(env, self.logs / f"ownit-{self.runs}.log")
        self.replica.wait_ready(60)
        return self.replica.port, self.replica.proc.pid

    async def drained(self, patience: float) -> None:
        """Until every ask is handled and its request posted in its case thread: the rest of an
        ask's work, whose CPU counts, and which must not spill into the next phase."""
        conn = await asyncpg.connect(self.url)
        deadline = time.perf_counter() + patience
        try:
            while await conn.fetchval(LEFT) and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    async def opened(self, url: str) -> None:
        """Until the cases the asks go to are open (the opens are handled after their ack)."""
        conn = await asyncpg.connect(url)
        try:
            while await conn.fetchval('SELECT count(*) FROM "case"') < CASES:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    def stop(self) -> None:
        if self.replica is not None:
            self.replica.stop()


class Lean:
    name = "lean reference"

    def __init__(self, url: str, slack: SlackProcess, logs: Path) -> None:
        self.url, self.slack, self.logs = url, slack, logs
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, db_url: str) -> tuple[int, int]:
        port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "lean.py"),
                str(port),
                db_url,
                self.slack.fake.url,
                SECRET,
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.logs / "lean.log").open("a"),
        )
        wait_listening(port, self.proc)
        return port, self.proc.pid

    async def drained(self, patience: float) -> None:
        """The lean reference has nothing more to do once the DM is sent."""

    async def opened(self, url: str) -> None:
        """The lean reference keeps no cases."""

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()


async def run_target(
    kind: type[Ownit] | type[Lean], slack: SlackProcess, logs: Path, args: argparse.Namespace
) -> list[Phase]:
    name, url = await fresh_database()
    target = kind(url, slack, logs)
    proxy = Proxy(logs)
    out: list[Phase] = []
    try:
        port, _pid = target.start(proxy.url(url))
        asks = Asks(slack.fake, port)
        load = Load([("127.0.0.1", port)])
        await load.closed(iter(asks.opens()), 4, 60)
        await target.opened(url)
        await meet_colleagues(target, port, slack, asks, args.patience * 2)
        trips, kinds = await count_trips(target, port, proxy.stats, slack, asks, args)
        target.stop()
        proxy.close()
        shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
        print(f"{target.name}: {trips:.1f} round trips per ask ({shown})", flush=True)
        port, pid = target.start(url)
        asks = Asks(slack.fake, port)
        if not args.cold:  # a process that has met its colleagues, as one up for a while has
            await meet_colleagues(target, port, slack, asks, args.patience * 2)
            await asyncio.sleep(2.0)
        for rate in args.rate:
            phase = await steady(target, port, pid, slack, asks, rate, args)
            phase.trips, phase.kinds = trips, kinds
            print(phase.line(), flush=True)
            each = sorted(phase.slack_calls.items(), key=lambda kv: -kv[1])
            made = ", ".join(f"{k} {v / phase.sent:.2f}" for k, v in each)
            print(f"  Slack calls per ask: {made}", flush=True)
            out.append(phase)
            await asyncio.sleep(1.0)
    finally:
        target.stop()
        proxy.close()
        await drop_database(name)
    return out


def summary(results: list[Phase]) -> None:
    lean = {p.rate: p for p in results if p.target == "lean reference"}
    for p in results:
        if p.target == "lean reference" or p.rate not in lean:
            continue
        ref = lean[p.rate]
        ratio = [
            f"e2e p99 {Phase.pct(p.e2e, 99) / Phase.pct(ref.e2e, 99):.1f}×",
            f"ack p99 {Phase.pct(p.acks, 99) / Phase.pct(ref.acks, 99):.1f}×",
            f"CPU/ask {(p.cpu / p.sent) / (ref.cpu / ref.sent):.1f}×",
        ]
        if p.trips and ref.trips:
            ratio.append(f"round trips {p.trips / ref.trips:.1f}×")
        print(f"ownit at {p.rate:.0f}/s against the lean reference: " + ", ".join(ratio))


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=float, action="append", help="steady rates to offer (per s)")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--count", type=int, default=200, help="asks counted on the wire")
    p.add_argument("--patience", type=float, default=120.0, help="seconds to wait for DMs")
    p.add_argument("--only", choices=["ownit", "lean"], action="append")
    p.add_argument(
        "--cold", action="store_true", help="time a fresh process (no warm-up of its own)"
    )
    args = p.parse_args()
    args.rate = args.rate or RATES
    only = set(args.only or ["lean", "ownit"])
    logs = Path(tempfile.mkdtemp(prefix="ownit-e2e-"))
    slack = SlackProcess(logs)
    print(f"CPUs: {os.cpu_count()}; load: {os.getloadavg()[0]:.1f}; logs in {logs}; PG {PG}")
    results: list[Phase] = []
    try:
        for kind in (Lean, Ownit):
            if kind.name.split()[0] in only:
                results += await run_target(kind, slack, logs, args)
    finally:
        slack.close()
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    print(HEADER)
    for r in results:
        print(r.line())
    summary(results)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--fake-slack":
        fake_slack_server(int(sys.argv[2]))
    else:
        asyncio.run(main())
