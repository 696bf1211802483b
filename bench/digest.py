"""How long does a manager's digest take for 500 people over 100 000 cases, on PostgreSQL?

Loads a synthetic year into a fresh database (COPY, about half a minute): 2 000 people, of whom 500
report to one manager (who also runs five teams of 100), 100 000 cases, about 150 000 requests and
their ladder events. Then times building that manager's weekly digest (figures for the week and the
previous quarter, twelve weeks of series, what is at risk now) with and without the chart, and
the daily digest. Prints the medians and maxima of warm runs.

    .venv/bin/python bench/digest.py [--pg postgresql://postgres@127.0.0.1:5432] [--keep]
    .venv/bin/python bench/digest.py --reuse <database kept earlier>
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import text

from bot import charts, digests, figures
from bot.business_time import Calendar
from bot.directory import Rules
from bot.policy import Policy
from storage.db import Database
from storage.migrate import migrate
from storage.tables import Person

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday: the weekly digest
PEOPLE, REPORTS, CASES = 2000, 500, 100_000
CATEGORIES = ["billing", "shipping", "login", "export", "refund", "invoice", None]


def _data(rng: random.Random) -> dict[str, list[tuple[Any, ...]]]:
    people: list[tuple[Any, ...]] = [(1, "boss", "The Boss", None, False)]
    other_managers = range(REPORTS + 2, REPORTS + 17)  # 15 managers of everyone else
    for i in range(2, PEOPLE + 2):
        if i <= REPORTS + 1:
            manager: int | None = 1
        elif i in other_managers:
            manager = None
        else:
            manager = other_managers[i % 15]
        people.append((i, f"p{i}", f"Person {i}", manager, False))
    teams = [(t, f"team{t}", f"Team {t}", 1, 0.9, 60) for t in range(1, 6)]
    members = [(1 + (i - 2) // 100, i) for i in range(2, REPORTS + 2)]
    cases, requests, events = [], [], []
    rid = 0
    # rows arrive in time order, as they do in production (it matters for heap locality)
    starts = sorted(NOW - timedelta(minutes=rng.randrange(0, 365 * 24 * 60)) for _ in range(CASES))
    for cid, opened in enumerate(starts, start=1):
        owner = rng.randrange(2, PEOPLE + 2)
        age = NOW - opened
        resolved = (
            opened + timedelta(hours=rng.randrange(1, 96)) if age > timedelta(days=5) else None
        )
        if resolved and resolved > NOW:
            resolved = None
        promise = opened + timedelta(hours=rng.randrange(4, 72))
        kept = (resolved <= promise) if resolved else None
        csat = rng.randrange(1, 6) if resolved and rng.random() < 0.4 else None
        cases.append(
            (
                cid,
                f"Customer {rng.randrange(0, 30_000)}",
                "summary",
                owner,
                "P3",
                rng.choice(CATEGORIES),
                "resolved" if resolved else "open",
                promise,
                1,
                kept,
                opened,
                resolved,
                rng.choice((0, 0, 0, 1, 2)),
                csat,
            )
        )
        for _ in range(rng.choice((1, 1, 2))):
            rid += 1
            assignee = rng.randrange(2, PEOPLE + 2)
            r_open = opened + timedelta(minutes=rng.randrange(0, 120))
            deadline = r_open + timedelta(hours=rng.randrange(2, 48))
            answered = r_open + timedelta(minutes=rng.randrange(10, 4 * 24 * 60))
            if answered > NOW or rng.random() < 0.03:
                answered = None
            acked = r_open + timedelta(minutes=rng.randrange(5, 240))
            if acked > NOW:
                acked = None
            if answered and acked and acked > answered:
                acked = answered
            status = "answered" if answered else ("acknowledged" if acked else "open")
            requests.append(
                (
                    rid,
                    cid,
                    owner,
                    assignee,
                    None,
                    "question",
                    status,
                    r_open,
                    deadline,
                    acked,
                    answered,
                    assignee if answered else None,
                    rng.choice((0, 0, 0, 0, 1)),
                )
            )
            late = answered is None or answered > deadline
            if late or rng.random() < 0.2:
                events.append((cid, rid, r_open + (deadline - r_open) / 4, "step:nudge", "", "{}"))
            if late:
                events.append((cid, rid, deadline, "step:overdue", "", "{}"))
    return {
        "person": people,
        "team": teams,
        "membership": members,
        "case": cases,
        "request": requests,
        "event": events,
    }


COLUMNS = {
    "person": ["id", "handle", "name", "manager_id", "is_admin"],
    "team": ["id", "key", "name", "manager_id", "target_on_time", "target_first_response_minutes"],
    "membership": ["team_id", "person_id"],
    "case": [
        "id",
        "customer",
        "summary",
        "owner_id",
        "priority",
        "category",
        "status",
        "promise_at",
        "promise_version",
        "promise_kept",
        "opened_at",
        "resolved_at",
        "handoffs",
        "csat",
    ],
    "request": [
        "id",
        "case_id",
        "asked_by_id",
        "assignee_id",
        "team_id",
        "question",
        "status",
        "opened_at",
        "deadline",
        "acked_at",
        "answered_at",
        "answered_by_id",
        "redirects",
    ],
    "event": ["case_id", "request_id", "at", "kind", "text", "data"],
}


async def load(dsn: str) -> None:
    data = _data(random.Random(42))
    conn = await asyncpg.connect(dsn)
    try:
        for table in ("person", "team", "membership", "case", "request", "event"):
            await conn.copy_records_to_table(table, records=data[table], columns=COLUMNS[table])
        for table in ("person", "team", "case", "request", "event"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'(SELECT max(id) FROM "{table}"))'
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    print(
        f"loaded {len(data['person'])} people, {len(data['case'])} cases, "
        f"{len(data['request'])} requests, {len(data['event'])} events"
    )


def _cpu_of(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes (PostgreSQL backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def backends(db: Database) -> list[int]:
    """The PostgreSQL backends serving this database (a local server: /proc shows them)."""
    async with db.reader() as s:
        rows = await figures.execute(
            s,
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"),
        )
        return [int(r[0]) for r in rows.all()]


CPU: list[float] = []
OWN: list[float] = []


async def timed(db: Database, rules: Rules, *, weekly: bool, chart: bool) -> tuple[float, int]:
    """Wall time of one digest; its CPU time (ours and PostgreSQL's) is appended to CPU."""
    pids = await backends(db)
    own0 = time.process_time()
    cpu0 = own0 + _cpu_of(pids)
    start = time.perf_counter()
    async with db.reader() as s:
        boss = await s.get(Person, 1)
        assert boss is not None
        scope = await figures.manager_scope(s, boss)
        assert len(scope.people) == REPORTS, len(scope.people)
        cal = rules.calendar
        today = NOW.astimezone(cal.zone).date()
        week_start = digests.local_midnight(today - timedelta(days=today.weekday()), cal)
        if weekly:
            begin, end = week_start - timedelta(weeks=1), week_start
        else:
            begin, end = NOW - timedelta(days=1), NOW
        build = digests.build
        if not chart:
            saved = charts.chart_extra
            charts.chart_extra = lambda *a, **k: {}  # type: ignore[assignment]
        try:
            d = await build(
                s,
                rules=rules,
                reader=boss,
                scope=scope,
                title="Weekly digest" if weekly else "Daily digest",
                start=begin,
                end=end,
                now=NOW,
                weekly=weekly,
                db=db,
            )
        finally:
            if not chart:
                charts.chart_extra = saved  # type: ignore[assignment]
    wall = time.perf_counter() - start
    pids = sorted(set(pids) | set(await backends(db)))
    own = time.process_time()
    CPU.append(own + _cpu_of(pids) - cpu0)
    OWN.append(own - own0)
    return wall, len(d.message.plain())


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--reuse", default=None, help="time a database kept by an earlier --keep")
    args = ap.parse_args()
    name = args.reuse or f"ownit_bench_digest_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(f"{args.pg}/postgres")
    if not args.reuse:
        await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"{args.pg}/{name}"
    db = Database(dsn)
    try:
        await migrate(db)
        if not args.reuse:
            t0 = time.perf_counter()
            await load(dsn)
            print(f"load took {time.perf_counter() - t0:.1f} s")
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        rules = Rules(policy=Policy(), calendar=Calendar(tz="Europe/London", country="GB"))
        cold, size = await timed(db, rules, weekly=True, chart=True)
        print(f"first weekly digest (cold caches): {cold * 1000:.0f} ms, {size} characters")
        for label, weekly, chart in (
            ("weekly digest with chart", True, True),
            ("weekly digest without chart", True, False),
            ("daily digest", False, False),
        ):
            CPU.clear()
            OWN.clear()
            runs = [
                (await timed(db, rules, weekly=weekly, chart=chart))[0] for _ in range(args.runs)
            ]
            print(
                f"{label}: median {statistics.median(runs) * 1000:.0f} ms, "
                f"max {max(runs) * 1000:.0f} ms over {args.runs} runs; CPU (ownit + PostgreSQL) "
                f"median {statistics.median(CPU) * 1000:.0f} ms "
                f"(ownit {statistics.median(OWN) * 1000:.0f} ms)"
            )
    finally:
        await db.dispose()
        if not args.keep and not args.reuse:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {name}")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
