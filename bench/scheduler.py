"""Scheduler benchmark: sweep time and firing lag with many open requests on PostgreSQL.

For each size, a fresh database gets N open cases, N open requests and their 3N pending ladder
steps (bulk-inserted with SQL, due over the next weeks), then:
- sweep: the time of one idle scheduler pass (`sweep()` + `next_due()`), median and p99 of 50;
- lag: 300 more steps fall due over the next ten seconds (30 a second: a million open requests'
  three steps spread over a working week come to about 20 a second); the scheduler runs on the
  real clock and each step's lateness (fired − due) is measured when it fires;
- burst: 1,000 steps (`--burst`) due at once, fired by one scheduler: the time and the rate.
The issue's target: the two sizes' figures within a factor of 2, and lag p99 under 1 s.

    .venv/bin/python bench/scheduler.py                     # 10 thousand
    .venv/bin/python bench/scheduler.py --open 10000 --open 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from bot import ladder
from bot.clock import RealClock
from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from bot.runtime.scheduler import Scheduler

PG = os.environ.get("OWNIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
LAG_STEPS = 300
LAG_WINDOW = 10.0
BURST = 1000


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def bulk_open(dsn: str, n: int, now: datetime, first: int = 1) -> None:
    """N open cases with one open request each and its three pending steps, due in the future.

    Case ids run from `first`; request ids follow the requests already there.
    """
    conn = await asyncpg.connect(dsn)
    try:
        ids = {r["handle"]: r["id"] for r in await conn.fetch("SELECT id, handle FROM person")}
        owner, dana = ids["alex"], ids["dana"]
        shift = await conn.fetchval("SELECT coalesce(max(id), 0) FROM request") - first + 1
        chunk = 200_000
        last = first + n - 1
        for start in range(first, last + 1, chunk):
            stop = min(last, start + chunk - 1)
            await conn.execute(
                """
                INSERT INTO "case" (id, customer, summary, owner_id, priority, status,
                                    promise_version, opened_at, handoffs)
                SELECT g, 'Customer ' || g, 'bench issue', $1, 'P3', 'open', 0, $2, 0
                FROM generate_series($3::int, $4::int) g
                """,
                owner,
                now,
                start,
                stop,
            )
            await conn.execute(
                """
                INSERT INTO request (id, case_id, asked_by_id, assignee_id, question, status,
                                     opened_at, deadline, redirects)
                SELECT g + $6::int, g, $1, $2, 'bench question', 'open', $3::timestamptz,
                       $3::timestamptz + interval '7 days' + (g % 20000) * interval '1 minute', 0
                FROM generate_series($4::int, $5::int) g
                """,
                owner,
                dana,
                now,
                start,
                stop,
                shift,
            )
            await conn.execute(
                """
                INSERT INTO timer (key, step, case_id, request_id, due_at, done)
                SELECT 'R-' || (g + $4::int) || ':' || s.step, s.step, g, g + $4::int,
                       $1::timestamptz + s.days * interval '1 day'
                           + (g % 20000) * interval '1 minute', false
                FROM generate_series($2::int, $3::int) g,
                     (VALUES ('nudge', 2), ('at_risk', 5), ('overdue', 7)) AS s(step, days)
                """,
                now,
                start,
                stop,
                shift,
            )
        for table in ("case", "request"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'(SELECT max(id) FROM "{table}"))'
            )
        # A long-lived database is vacuumed by autovacuum; do it now rather than during the run.
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def add_due_soon(
    dsn: str, count: int, start: datetime, window: float, tag: str = "nudge-soon"
) -> None:
    """`count` more steps (nudges of the first requests) falling due over `window` seconds."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO timer (key, step, case_id, request_id, due_at, done)
            SELECT 'R-' || g || ':' || $4 || ':' || g, 'nudge', c.id, r.id,
                   $1::timestamptz + (g % $2) * ($3::float / $2::float) * interval '1 second', false
            FROM generate_series(1, $2::int) g
            JOIN request r ON r.id = (SELECT min(id) FROM request) + (g - 1) % 1000
            JOIN "case" c ON c.id = r.case_id
            """,
            start,
            count,
            window,
            tag,
        )
    finally:
        await conn.close()


async def one_size(
    n: int, explain: bool, keep: bool = False, burst_size: int = BURST
) -> dict[str, Any]:
    name = f"ownit_bench_{n}" if keep else f"ownit_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG + "/postgres")
    loaded = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    if not loaded:
        await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"{PG}/{name}"
    app = await Ownit.start(
        load_settings(DATABASE_URL=url, OWNIT_ORG_FILE=str(example_org_file())), simulated=False
    )
    try:
        now = datetime.now(UTC)
        t = time.perf_counter()
        if not loaded:
            await bulk_open(url, n, now)
        load_s = time.perf_counter() - t

        sched = Scheduler(db=app.db, clock=RealClock(), rules=app.rules)
        await sched.sweep()
        sweeps = []
        for _ in range(50):
            t = time.perf_counter()
            await sched.sweep()
            await sched.next_due()
            sweeps.append(time.perf_counter() - t)

        if explain:
            conn = await asyncpg.connect(url)
            for q in (
                "SELECT min(due_at) FROM timer WHERE done IS false",
                "SELECT * FROM timer WHERE done IS false AND due_at <= now() "
                "ORDER BY due_at, id LIMIT 100 FOR UPDATE SKIP LOCKED",
            ):
                plan = await conn.fetch("EXPLAIN ANALYZE " + q)
                print("   ", q, *(r[0] for r in plan), sep="\n      ")
            await conn.close()

        lags: list[float] = []
        real_fire = ladder.fire

        async def timed_fire(session: Any, *, timer: Any, now: datetime, rules: Any) -> str:
            lags.append((datetime.now(UTC) - timer.due_at).total_seconds())
            return await real_fire(session, timer=timer, now=now, rules=rules)

        ladder.fire = timed_fire  # type: ignore[assignment]
        stop = asyncio.Event()
        try:
            await add_due_soon(
                url, LAG_STEPS, datetime.now(UTC) + timedelta(seconds=0.5), LAG_WINDOW
            )
            sched.wake.set()  # what an announcement from the replica that made them does
            task = asyncio.create_task(sched.run(stop))
            for _ in range(600):
                if len(lags) >= LAG_STEPS:
                    break
                await asyncio.sleep(0.1)
            stop.set()
            sched.wake.set()
            await task
        finally:
            ladder.fire = real_fire  # type: ignore[assignment]

        due = datetime.now(UTC) - timedelta(seconds=1)
        await add_due_soon(url, burst_size, due, 0.0, "burst")
        t = time.perf_counter()
        burst = await sched.sweep()
        burst_s = time.perf_counter() - t
        conn = await asyncpg.connect(url)
        await conn.execute(
            "DELETE FROM timer WHERE key LIKE '%:nudge-soon:%' OR key LIKE '%:burst:%'"
        )
        await conn.close()
        return {
            "open": n,
            "load_s": load_s,
            "sweep_p50_ms": statistics.median(sweeps) * 1000,
            "sweep_p99_ms": pct(sweeps, 99) * 1000,
            "fired": len(lags),
            "lag_p50_ms": pct(lags, 50) * 1000 if lags else float("nan"),
            "lag_p99_ms": pct(lags, 99) * 1000 if lags else float("nan"),
            "lag_max_ms": max(lags) * 1000 if lags else float("nan"),
            "burst_rate": burst / burst_s if burst_s else float("nan"),
            "burst": burst,
            "burst_s": burst_s,
        }
    finally:
        await app.close()
        if not keep:
            admin = await asyncpg.connect(PG + "/postgres")
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--open", type=int, action="append", help="open requests (repeatable)")
    p.add_argument("--explain", action="store_true", help="print the query plans")
    p.add_argument(
        "--keep", action="store_true", help="keep (and reuse) the loaded database ownit_bench_N"
    )
    p.add_argument("--burst", type=int, default=BURST, help="steps falling due at once")
    args = p.parse_args()
    sizes = args.open or [10_000]
    rows = []
    for n in sizes:
        print(f"-- {n:,} open requests ({3 * n:,} pending steps)", flush=True)
        r = await one_size(n, args.explain, args.keep, args.burst)
        rows.append(r)
        print(
            f"   loaded in {r['load_s']:.1f}s; idle sweep p50 {r['sweep_p50_ms']:.2f} ms, "
            f"p99 {r['sweep_p99_ms']:.2f} ms; {r['fired']}/{LAG_STEPS} steps fired, lag p50 "
            f"{r['lag_p50_ms']:.0f} ms, p99 {r['lag_p99_ms']:.0f} ms, "
            f"max {r['lag_max_ms']:.0f} ms; burst of {r['burst']} fired in {r['burst_s']:.1f} s "
            f"({r['burst_rate']:.0f}/s)",
            flush=True,
        )
    print()
    print(
        "| open requests | pending steps | idle sweep p50 | sweep p99 | lag p50 | lag p99 "
        "| burst firing |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['open']:,} | {3 * r['open']:,} | {r['sweep_p50_ms']:.2f} ms "
            f"| {r['sweep_p99_ms']:.2f} ms | {r['lag_p50_ms']:.0f} ms | {r['lag_p99_ms']:.0f} ms "
            f"| {r['burst_rate']:.0f} steps/s |"
        )
    if len(rows) > 1:
        ratio = rows[-1]["sweep_p50_ms"] / rows[0]["sweep_p50_ms"]
        print(f"\nsweep p50 ratio, largest/smallest: {ratio:.2f} (target ≤ 2)")


if __name__ == "__main__":
    asyncio.run(main())
