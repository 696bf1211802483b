"""Memory: the resident size of one ownit process with 100 thousand cases.

One process (this one) runs ownit on a fresh PostgreSQL database, without Redis (the in-process
twins hold the idempotency keys and caches: the worst case for memory), delivering to a platform
that accepts everything.
1. growth: it handles `/case open` commands with platform delivery keys, plus a `/case ask` in
   every tenth case, through the dispatch every platform uses; RSS at checkpoints gives the
   memory per case handled (a leak grows with the cases, a healthy process levels off);
2. 100 thousand: 100 thousand more open cases, each with an open request and its ladder steps,
   are bulk-loaded with SQL (handling them one by one takes an hour on a small machine), then the
   process handles `/case status` and `/case ask` on cases spread over all of them and sweeps
   the scheduler; RSS then is the figure.

    .venv/bin/python bench/memory.py                  # 5 thousand handled, 100 thousand loaded
    .venv/bin/python bench/memory.py --cases 20000 --loaded 100000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

PG = os.environ.get("OWNIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cases", type=int, default=5_000, help="cases opened through dispatch")
    p.add_argument("--loaded", type=int, default=100_000, help="open cases bulk-loaded after")
    p.add_argument("--concurrency", type=int, default=8)
    args = p.parse_args()

    from bot.commands import service as dispatch
    from bot.messages import Message
    from bot.runtime.app import Ownit, example_org_file
    from bot.runtime.config import load_settings
    from storage.tables import Outbox, Person

    class NullChannel:
        """Reaches everyone and sends nowhere: the outbox is worked as with a real platform."""

        name = "bench"

        def reaches(self, person: Person) -> bool:
            return True

        async def send(self, person: Person, msg: Message, row: Outbox) -> None:
            return None

    logging.basicConfig(level=logging.ERROR)

    name = f"ownit_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    print(f"RSS after imports: {rss_mb():.0f} MB", flush=True)
    app = await Ownit.start(
        load_settings(DATABASE_URL=f"{PG}/{name}", OWNIT_ORG_FILE=str(example_org_file())),
        simulated=False,
        channels=[NullChannel()],
    )
    app.run_background()
    alex = dispatch.Origin("slack", "UALEX", name="Alex Advisor", email="alex@example.com")
    marks = sorted({1_000, 2_500, 5_000, 10_000, 25_000, 50_000, args.cases} - {0})
    marks = [m for m in marks if m <= args.cases]
    rows = []
    try:
        print(f"RSS after start: {rss_mb():.0f} MB", flush=True)
        start = time.perf_counter()
        done = 0
        for mark in marks:
            queue = iter(range(done, mark))

            async def worker(queue=queue) -> None:  # type: ignore[no-untyped-def]
                for i in queue:
                    r = await dispatch.handle(
                        app, f"/case open Customer {i}: issue {i}", alex, key=f"bench:open:{i}"
                    )
                    assert r.ok, r.plain()
                    if i % 10 == 0:
                        ask = f"/case ask {r.case} @dana question {i}? by 4h"
                        q = await dispatch.handle(app, ask, alex, key=f"bench:ask:{i}")
                        assert q.ok, q.plain()

            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            done = mark
            gc.collect()
            elapsed = time.perf_counter() - start
            rows.append((mark, rss_mb(), elapsed))
            print(f"{mark:>7,} cases: RSS {rows[-1][1]:.0f} MB ({elapsed:.0f} s)", flush=True)
        rate = done / (time.perf_counter() - start)

        if args.loaded:
            from datetime import UTC, datetime

            from bench.scheduler import bulk_open

            await bulk_open(f"{PG}/{name}", args.loaded, datetime.now(UTC), first=done + 1)
            total = done + args.loaded
            t = time.perf_counter()
            for j in range(2_000):
                case = 1 + (j * 7919) % total
                if j % 2:
                    r = await dispatch.handle(app, f"/case status C-{case}", alex)
                else:
                    ask = f"/case ask C-{case} @kenji again {j}? by 2d"
                    r = await dispatch.handle(app, ask, alex, key=f"bench:late:{j}")
                assert r.ok, r.plain()
            await app.scheduler.sweep()
            gc.collect()
            rows.append((total, rss_mb(), time.perf_counter() - t))
            print(
                f"{total:>7,} cases (after 2,000 commands across them): RSS {rows[-1][1]:.0f} MB",
                flush=True,
            )
    finally:
        await app.close()
        admin = await asyncpg.connect(PG + "/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print()
    print("| cases handled | RSS |")
    print("| ---: | ---: |")
    for mark, rss, _ in rows:
        print(f"| {mark:,} | {rss:.0f} MB |")
    handled = [r for r in rows if r[0] <= args.cases]
    if len(handled) > 1:
        first, last = handled[0], handled[-1]
        print(
            f"\ngrowth from {first[0]:,} to {last[0]:,} cases handled: "
            f"{last[1] - first[1]:.0f} MB "
            f"({(last[1] - first[1]) * 1024 / (last[0] - first[0]):.2f} KB per case); "
            f"{rate:.0f} cases/s"
        )


if __name__ == "__main__":
    asyncio.run(main())
