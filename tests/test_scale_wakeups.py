"""A timer made on one replica is honoured promptly by the scheduler of another (Redis wake-ups)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.commands import service as dispatch
from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from storage.tables import Timer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ALEX = dispatch.Origin("console", "alex")


async def _start(db_url: str, redis_url: str) -> Ownit:
    settings = load_settings(
        DATABASE_URL=db_url, REDIS_URL=redis_url, OWNIT_ORG_FILE=str(example_org_file())
    )
    return await Ownit.start(settings, simulated=False)


@pytest.mark.timing
async def test_a_timer_made_elsewhere_fires_within_a_second(pg_url: str, redis_url: str) -> None:
    a = await _start(pg_url, redis_url)  # runs the scheduler, idle: it would sleep 5 s
    b = await _start(pg_url, redis_url)  # takes the command
    try:
        subscribed = asyncio.Event()
        a.wake_hooks.append(subscribed.set)  # called when A's listener first wakes it
        a.run_background()
        await asyncio.wait_for(subscribed.wait(), timeout=5)  # its listener is subscribed
        deadline = time.monotonic() + 5
        while a.scheduler.wake.is_set() or not a.scheduler.rounds:  # and A is asleep again
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        opened = await dispatch.handle(b, "/case open Acme: invoice wrong", ALEX, key="w1")
        asked = await dispatch.handle(b, f"/case ask {opened.case} @dana why? by 4h", ALEX)
        assert asked.ok
        due = datetime.now(UTC) + timedelta(seconds=1)
        async with b.db.session() as s:
            req_id = int(asked.request.split("-")[1]) if asked.request else 0
            timer = (await s.exec(select(Timer).where(Timer.request_id == req_id))).first()
            assert timer is not None
            timer.due_at = due  # as `eta` past the deadline brings a step forward
            s.add(timer)
        b.poke()  # what every command does after it commits: announce it to every replica
        deadline = time.monotonic() + 4
        fired_at = None
        while time.monotonic() < deadline:
            async with a.db.reader() as s:
                row = await s.get(Timer, timer.id)
            if row is not None and row.done:
                fired_at = datetime.now(UTC)
                break
            await asyncio.sleep(0.05)
        assert fired_at is not None, "the other replica's scheduler did not fire the step"
        assert (fired_at - due).total_seconds() < 1.0
        assert a.scheduler.fired >= 1 and b.scheduler.fired == 0
    finally:
        await b.close()
        await a.close()
