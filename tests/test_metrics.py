"""`GET /metrics`: command counts and latencies, duplicates, steps fired; one registry per app."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient, TestServer

from bot.commands import service as dispatch
from handlers.web import make_web_app
from tests.conftest import ConsoleBot

ALEX = dispatch.Origin("console", "alex")


async def _scrape(bot: ConsoleBot) -> str:
    web_app = await make_web_app(bot.app)
    async with TestClient(TestServer(web_app)) as client:
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        health = await client.get("/healthz")
        assert health.status == 200
        return await resp.text()


async def test_metrics_count_commands_duplicates_and_steps(bot: ConsoleBot) -> None:
    app = bot.app
    await dispatch.handle(app, "/case open Acme: invoice wrong", ALEX, key="e1")
    await dispatch.handle(app, "/case open Acme: invoice wrong", ALEX, key="e1")
    await dispatch.handle(app, "/case ask C-1 @dana is it? by 4h", ALEX, key="e2")
    await dispatch.handle(app, "/case frobnicate", ALEX)
    clock = app.clock
    assert hasattr(clock, "advance")
    await clock.advance(timedelta(days=2))
    await app.settle()

    text = await _scrape(bot)
    assert 'ownit_commands_total{command="open",outcome="ok"} 1.0' in text
    assert 'ownit_commands_total{command="open",outcome="duplicate"} 1.0' in text
    assert 'ownit_commands_total{command="ask",outcome="ok"} 1.0' in text
    assert 'ownit_commands_total{command="unparsed",outcome="usage"} 1.0' in text
    assert 'ownit_command_seconds_count{command="ask"} 1.0' in text
    assert 'ownit_deliveries_deduplicated_total{via="local"} 1.0' in text
    for step in ("nudge", "at_risk", "overdue"):
        assert f'ownit_steps_fired_total{{outcome="fired",step="{step}"}} 1.0' in text
    assert "ownit_scheduler_sweep_seconds_count" in text
    assert "ownit_scheduler_lag_seconds" in text
    assert 'ownit_notices_total{channel="console",outcome="sent"}' in text
    assert "ownit_redis_up 1.0" in text


async def test_each_app_has_its_own_registry(bot: ConsoleBot, sqlite_url: str) -> None:
    from bot.runtime.app import Ownit, example_org_file
    from bot.runtime.config import load_settings

    other = await Ownit.start(
        load_settings(DATABASE_URL=sqlite_url, OWNIT_ORG_FILE=str(example_org_file())),
        simulated=True,
    )
    try:
        await dispatch.handle(bot.app, "/case open Acme: x", ALEX)
        assert bot.app.metrics.commands.labels("open", "ok")._value.get() == 1
        assert other.metrics.commands.labels("open", "ok")._value.get() == 0
    finally:
        await other.close()
