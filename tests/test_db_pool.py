"""A process's PostgreSQL connections (`OWNIT_DB_POOL`): at most twice the setting, and those a
peak opened are kept for the next one instead of being closed and opened again."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings

pytestmark = pytest.mark.postgres


async def test_a_peak_opens_twice_the_pool_and_keeps_it_for_the_next(pg_url: str) -> None:
    settings = load_settings(
        DATABASE_URL=pg_url, OWNIT_ORG_FILE=str(example_org_file()), OWNIT_DB_POOL="2"
    )
    app = await Ownit.start(settings, simulated=True)
    try:
        busy = 0
        most = 0

        async def hold() -> int:
            nonlocal busy, most
            async with app.db.statements() as conn:
                busy += 1
                most = max(most, busy)
                pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
                await asyncio.sleep(0.2)
                busy -= 1
                return pid

        first = set(await asyncio.gather(*(hold() for _ in range(6))))
        second = set(await asyncio.gather(*(hold() for _ in range(6))))
        assert most == 4 and len(first) == 4  # two more waited for a connection
        assert second == first  # the same server connections: none closed and opened again
    finally:
        await app.close()
