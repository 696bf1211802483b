"""Who-to-ask benchmark: the plain search over past answered requests (one query), on SQLite and
PostgreSQL, with N answered requests from 200 people.

Each database is migrated, gets 200 people and N answered requests whose questions are drawn from
a small support vocabulary (bulk-inserted with SQL), then `bot.requests.suggesting.candidates` is
timed for ten different questions, warm: median and max wall time, as the `/case ask` path pays
it before any model is asked.

    .venv/bin/python bench/who_to_ask.py                    # 10 000 and 100 000 requests
    .venv/bin/python bench/who_to_ask.py --requests 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
from sqlalchemy import insert

from bot.requests.suggesting import candidates
from storage.db import Database
from storage.migrate import migrate
from storage.tables import Case, Person, Request

PG = os.environ.get("OWNIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
PEOPLE = 200
WORDS = """invoice charged twice refund credit note payment card declined login password reset
    outage api timeout export report shipping delivery address customs tracking parcel damaged
    contract renewal discount licence seats upgrade downgrade cancel account locked email
    notification webhook integration billing tax vat receipt currency""".split()
QUESTIONS = [
    "was invoice 1043 charged twice?",
    "can we refund the card payment?",
    "why is the login locked after a password reset?",
    "is the api timeout an outage?",
    "where is the parcel, tracking shows customs",
    "can they get a discount on the renewal of their contract?",
    "does the webhook integration send the notification email?",
    "which vat rate goes on the receipt?",
    "can we upgrade their licence seats mid contract?",
    "the export report misses the shipping address",
]


async def load(db: Database, n: int) -> None:
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(Person),
            [{"handle": f"p{i}", "name": f"Person {i}", "is_admin": False} for i in range(PEOPLE)],
        )
        await conn.execute(
            insert(Case),
            [
                {
                    "customer": "Acme",
                    "summary": "s",
                    "owner_id": 1,
                    "priority": "P3",
                    "status": "open",
                    "opened_at": start,
                    "handoffs": 0,
                    "promise_version": 0,
                }
            ],
        )
    batch = 10_000
    for first in range(0, n, batch):
        rows = []
        for i in range(first, min(n, first + batch)):
            at = start + timedelta(minutes=i)
            who = rng.randrange(2, PEOPLE + 1)
            question = " ".join(rng.sample(WORDS, 6)) + "?"
            rows.append(
                {
                    "case_id": 1,
                    "asked_by_id": 1,
                    "assignee_id": who,
                    "question": question,
                    "status": "answered",
                    "opened_at": at,
                    "deadline": at + timedelta(hours=4),
                    "answered_at": at + timedelta(hours=1),
                    "answered_by_id": who,
                    "redirects": 0,
                }
            )
        async with db.engine.begin() as conn:
            await conn.execute(insert(Request), rows)


async def timed(db: Database) -> list[float]:
    async with db.reader() as s:
        asker = await s.get(Person, 1)
        assert asker is not None
        await candidates(s, question=QUESTIONS[0], asker=asker)  # warm
        times = []
        for q in QUESTIONS:
            began = time.perf_counter()
            found = await candidates(s, question=q, asker=asker)
            times.append(time.perf_counter() - began)
            assert found, q
    return times


async def one(kind: str, n: int) -> None:
    name = f"ownit_bench_{uuid.uuid4().hex[:10]}"
    folder = tempfile.TemporaryDirectory()
    if kind == "postgresql":
        admin = await asyncpg.connect(f"{PG}/postgres")
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = f"{PG}/{name}"
    else:
        url = f"sqlite:///{folder.name}/bench.db"
    db = Database(url)
    try:
        await migrate(db)
        began = time.perf_counter()
        await load(db, n)
        loaded = time.perf_counter() - began
        times = await timed(db)
        print(
            f"{kind:10} {n:>9,} answered requests (loaded in {loaded:.0f} s): "
            f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
        )
    finally:
        await db.dispose()
        folder.cleanup()
        if kind == "postgresql":
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, action="append")
    args = parser.parse_args()
    for n in args.requests or [10_000, 100_000]:
        for kind in ("sqlite", "postgresql"):
            await one(kind, n)


if __name__ == "__main__":
    asyncio.run(main())
