"""The honest new time's cost: one computation for a case waiting on several colleagues, each with
a full record of late and punctual answers, on PostgreSQL.

A fresh database gets the example organisation, `--history` answered requests for each of three
colleagues (Dana, Bo, Kenji; a third of them answered 1 to 5 business hours late), and one open
case asking all three. Then `bot.new_time.honest_new_time` runs `--runs` times, warm, and the
script prints its wall time (median, p90), the statements it sends, and the time it computes.
The computation runs once per warning (a request's at-risk step, the promise-at-risk step) and
once per drafted update, so it only has to stay well inside a notice's own cost.

    .venv/bin/python bench/new_time.py
    .venv/bin/python bench/new_time.py --history 10 --runs 500
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
from sqlalchemy import event
from sqlmodel import select, update

from bot.clock import SimClock
from bot.new_time import honest_new_time
from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from handlers.console.terminal import Console, ConsoleChannel
from storage.tables import Case, Person, Request

PG = os.environ.get("OWNIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
START = datetime(2026, 11, 23, 9, tzinfo=UTC)


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def seed(app: Ownit, history: int) -> None:
    """Each colleague's record, then the case that waits on all three."""
    console = Console(app, actor="alex", out=lambda line: None)
    await console.line("/case open Oldco: history")
    who = ("dana", "bo", "kenji")
    for handle in who:
        for n in range(history):
            await console.line(f"/case ask C-1 @{handle} old question {n}? by fri 12:00")
    async with app.db.session() as s:
        people = {p.handle: p.id for p in (await s.exec(select(Person))).all()}
        reqs = (await s.exec(select(Request))).all()
        for i, req in enumerate(reqs):
            deadline = START - timedelta(days=7) + timedelta(hours=i % 8)
            late = timedelta(hours=1 + i % 5) if i % 3 == 0 else timedelta(0)
            await s.exec(
                update(Request)
                .where(Request.id == req.id)  # type: ignore[arg-type]
                .values(
                    status="answered",
                    deadline=deadline,
                    answered_at=deadline + late,
                    answered_by_id=req.assignee_id,
                )
            )
        await s.commit()
    assert all(people.get(h) for h in who)
    await console.line("/case open Acme: refund missing promise tomorrow 12:00")
    for handle in who:
        await console.line(f"/case ask C-2 @{handle} part of the refund? by tomorrow 11:00")


async def main(history: int, runs: int) -> None:
    name = f"ownit_bench_{uuid.uuid4().hex[:10]}"
    await admin(f'CREATE DATABASE "{name}"')
    settings = load_settings(
        DATABASE_URL=f"{PG}/{name}",
        OWNIT_ORG_FILE=str(example_org_file()),
        OWNIT_TIMEZONE="Europe/London",
    )
    app = await Ownit.start(settings, simulated=True, channels=[ConsoleChannel(lambda _: None)])
    assert isinstance(app.clock, SimClock)
    app.clock.start = START
    await app.clock.now()
    try:
        await seed(app, history)
        rules = await app.rules()
        now = await app.clock.now()
        statements = 0

        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        times: list[float] = []
        async with app.db.reader() as s:
            case = await s.get(Case, 2)
            assert case is not None
            found = await honest_new_time(s, case=case, rules=rules, now=now)  # warm-up
            event.listen(app.db.engine.sync_engine, "before_cursor_execute", count)
            for _ in range(runs):
                began = time.perf_counter()
                await honest_new_time(s, case=case, rules=rules, now=now)
                times.append(time.perf_counter() - began)
            event.remove(app.db.engine.sync_engine, "before_cursor_execute", count)
        ms = sorted(t * 1000 for t in times)
        print(f"history {history} answers per colleague, 3 open requests, {runs} warm runs")
        print(f"honest new time: {found.at.isoformat()} (threatened: {found.threatened})")
        print(
            f"wall: median {statistics.median(ms):.2f} ms, p90 {ms[int(0.9 * (len(ms) - 1))]:.2f}"
            f" ms; statements per computation: {statements / runs:.0f}"
        )
    finally:
        await app.close()
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=10)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.history, args.runs))
