"""The CPU one command's handling costs, alone: asks run in process, one after another, on
PostgreSQL (no HTTP, no Slack, no Redis), after a warm-up that met every colleague.

What it counts: the process's CPU time (user + system) over `--asks` asks through
`bot.commands.service.handle` as the console runs them, divided by the asks: parsing, the access
check, the transaction (the case locked, the request, its timeline line, notice and steps, the
delivery key) and the reply, plus what the process's background loops do meanwhile (delivering
the notices to the console's channel, the scheduler's looks). It leaves out what a platform adds
(the acknowledgement, the Slack calls, the case card): `bench/e2e.py` measures those, end to end.

    .venv/bin/python bench/command_cpu.py --asks 500
    .venv/bin/python bench/command_cpu.py --asks 300 --profile   # where the CPU goes (cProfile)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ack_latency import drop_database, fresh_database  # noqa: E402
from bot.commands import service as dispatch  # noqa: E402
from bot.runtime.app import Ownit, example_org_file  # noqa: E402
from bot.runtime.config import load_settings  # noqa: E402

CASES = 20
PEOPLE = ["dana", "bo", "sam", "kenji"]  # of the example org file


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--asks", type=int, default=500)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    name, url = await fresh_database()
    try:
        settings = load_settings(
            DATABASE_URL=url,
            REDIS_URL="",
            OWNIT_ORG_FILE=str(example_org_file()),
            OWNIT_TIMEZONE="Europe/London",
            OWNIT_CLOCK="real",
        )
        app = await Ownit.start(settings, simulated=False)
        alex = dispatch.Origin("console", "alex")
        for i in range(CASES):
            opened = await dispatch.handle(app, f"/case open Cust{i}: thing {i}", alex)
            assert opened.ok, opened.plain()

        async def ask(i: int) -> None:
            text = f"/case ask C-{i % CASES + 1} @{PEOPLE[i % len(PEOPLE)]} question {i}? by 4h"
            reply = await dispatch.handle(app, text, alex, key=f"ask-{i}")
            assert reply.ok, reply.plain()

        for i in range(100):  # the warm-up: every colleague met, every statement prepared
            await ask(i)
        profile = cProfile.Profile(time.process_time) if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        for i in range(100, 100 + args.asks):
            await ask(i)
        if profile is not None:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"{args.asks} asks: CPU {cpu * 1000 / args.asks:.2f} ms per ask, "
            f"wall {wall * 1000 / args.asks:.2f} ms per ask"
            + (" (under cProfile: slower)" if profile is not None else "")
        )
        if profile is not None:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        await app.close()
    finally:
        await drop_database(name)


if __name__ == "__main__":
    asyncio.run(main())
