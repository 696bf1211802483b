"""Managers' digests on the simulated clock, delivered through the console channel.

Daily at 09:00 the manager's time on business days, weekly on Monday with a chart; exactly once
per manager and period, across restarts and across two replicas sharing one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from bot import charts
from bot.clock import SimClock
from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from handlers.console.terminal import Console, ConsoleChannel
from storage.tables import DigestRun, Outbox, Person
from tests.conftest import ConsoleBot


async def sweep(bot: ConsoleBot) -> str:
    """Run the digest sweep of a freshly started Digester and deliver; returns what was printed."""
    start = len(bot.lines)
    await bot.app.digester().sweep()
    await bot.app.deliverer.drain()
    return "\n".join(bot.lines[start:])


async def overdue_request(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: invoice wrong promise wed 17:00 p2", as_="alex")
    await bot.say("/case ask C-1 @dana Is invoice 7 wrong? by 11:00", as_="alex")


async def digest_runs(bot: ConsoleBot) -> list[DigestRun]:
    async with bot.app.db.reader() as s:
        return list((await s.exec(select(DigestRun).order_by(col(DigestRun.key)))).all())


async def test_daily_then_weekly_exactly_once(bot: ConsoleBot) -> None:
    await overdue_request(bot)
    await bot.say("/clock tomorrow 08:30")  # Tue: the ladder fires, no digest is due yet
    assert await sweep(bot) == ""
    await bot.say("/clock +30m")  # Tue 09:00 London
    out = await sweep(bot)
    morgan = bot.to("morgan", out)
    assert "Daily digest for Morgan Finance-Lead's people" in morgan
    assert "At risk or overdue now (1)" in morgan
    assert "R-1 overdue — @dana: Is invoice 7 wrong? (C-1, Acme" in morgan
    assert "/case status C-1" in morgan
    assert "Escalations: 1 reminders, 1 at risk, 1 overdue" in morgan
    assert "On time: 0 % of 1 internal answers — target 90 %. Below target." in morgan
    sam = bot.to("sam", out)
    assert "Daily digest for Sam Support-Lead's people" in sam and "New cases: 1" in sam
    assert "@dana" not in sam  # a manager sees only their own people
    assert bot.to("lee", out) == ""  # nothing to report, and all-clear is off
    assert await sweep(bot) == ""  # once per period, even after a "restart" (a new Digester)
    keys = {r.key for r in await digest_runs(bot)}
    lee, morgan_id, sam_id = [await person_id(bot, h) for h in ("lee", "morgan", "sam")]
    assert keys == {
        f"daily:{sam_id}:2026-11-24",
        f"daily:{morgan_id}:2026-11-24",
        f"daily:{lee}:2026-11-24",
        # Mon 23 Nov is a holiday in Tokyo: Lee's weekly digest was due on Tuesday (empty)
        f"weekly:{lee}:2026-W48",
    }

    await bot.say("/case answer R-1 Yes, refund issued", as_="dana")
    await bot.say("/clock sat 10:00")
    assert await sweep(bot) == ""  # no digests at the weekend
    await bot.say("/clock mon 09:00")
    out = await sweep(bot)
    weekly = bot.to("morgan", out)
    assert "Weekly digest for Morgan Finance-Lead's people — week of Mon 23 Nov" in weekly
    assert "On time: 0 % of 1 internal answers — target 90 %" in weekly
    assert "Chart: on time and promises kept by week" in weekly
    assert "Daily digest" not in out  # Monday's daily is folded into the weekly
    async with bot.app.db.reader() as s:
        rows = (await s.exec(select(Outbox).where(Outbox.kind == "digest"))).all()
    charted = [r for r in rows if r.payload["extra"].get("chart")]
    assert len(charted) == 2  # sam and morgan; lee had nothing to report
    png = charts.decode_chart(charted[0].payload["extra"])
    assert png is not None and png.startswith(b"\x89PNG")
    series = next(r.payload["extra"]["chart_series"] for r in charted if r.person_id == morgan_id)
    assert series["weeks"][-1] == "23 Nov" and series["on_time"][-1] == 0.0
    assert await sweep(bot) == ""
    keys = [r.key for r in await digest_runs(bot)]
    assert sum(k.startswith("weekly:") and k.endswith("W49") for k in keys) == 3
    assert sum(k.endswith("2026-11-30") for k in keys) == 3


async def person_id(bot: ConsoleBot, handle: str) -> int:
    async with bot.app.db.reader() as s:
        p = (await s.exec(select(Person).where(Person.handle == handle))).one()
    assert p.id is not None
    return p.id


async def test_all_clear_and_own_time(bot: ConsoleBot) -> None:
    out = await bot.say("/case admin digest all_clear on", as_="lee")
    assert "all-clear messages on" in out
    out = await bot.say("/case admin digest at 08:00", as_="morgan")
    assert "daily at 08:00" in out
    out = await bot.say("/case admin digest @morgan off", as_="lee")
    assert "an admin can change anyone's" in out
    await overdue_request(bot)
    await bot.say("/clock tomorrow 08:00")  # Tue 08:00 London, 17:00 Tokyo
    out = await sweep(bot)
    assert "All clear for Lee Engineering-Lead's people" in bot.to("lee", out)
    assert "Daily digest" in bot.to("morgan", out)
    assert bot.to("sam", out) == ""  # sam's time is still 09:00
    runs = {r.key.split(":")[0] + ":" + str(r.empty) for r in await digest_runs(bot)}
    assert runs == {"daily:True", "daily:False", "weekly:True"}  # Tokyo: Monday was a holiday


async def test_on_demand_digest_sees_only_own_people_and_teams(bot: ConsoleBot) -> None:
    await overdue_request(bot)
    await bot.say("/case ask C-1 @kenji Is the export broken? by 12:00", as_="alex")
    await bot.say("/clock +4h")
    out = await bot.say("/case digest", as_="morgan")
    assert "Digest for Morgan Finance-Lead's people" in out and "R-1 overdue" in out
    assert "R-2" not in out and "@kenji" not in out
    out = await bot.say("/case digest billing", as_="morgan")
    assert "Digest for @billing" in out and "R-1 overdue" in out
    out = await bot.say("/case digest billing", as_="lee")
    assert "Only the manager of @billing" in out and "R-1" not in out
    out = await bot.say("/case digest billing", as_="alex")
    assert "Only the manager of @billing" in out
    out = await bot.say("/case digest", as_="dana")
    assert "You don't manage anyone" in out
    out = await bot.say("/case digest nosuchteam", as_="morgan")
    assert "There is no team @nosuchteam" in out


async def test_two_replicas_send_each_digest_once(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.digests")
    settings = load_settings(
        DATABASE_URL=pg_url, OWNIT_ORG_FILE=str(example_org_file()), OWNIT_TIMEZONE="Europe/London"
    )
    lines: list[str] = []
    a = await Ownit.start(settings, simulated=True, channels=[ConsoleChannel(lines.append)])
    b = await Ownit.start(settings, simulated=True, channels=[ConsoleChannel(lines.append)])
    try:
        assert isinstance(a.clock, SimClock)
        await a.clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
        console = Console(a, actor="alex", out=lines.append)
        await console.line("/case open Acme: invoice wrong promise wed 17:00 p2")
        await console.line("/case ask C-1 @dana Is invoice 7 wrong? by 11:00")
        await console.line("/clock tomorrow 08:30")
        await a.clock.set(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
        sent = await asyncio.gather(*(x.digester().sweep() for x in (a, b, a, b)))
        assert sum(sent) == 2  # morgan and sam; lee has nothing to report
        async with a.db.reader() as s:
            rows = (await s.exec(select(Outbox).where(Outbox.kind == "digest"))).all()
            runs = (await s.exec(select(DigestRun))).all()
        assert sorted(r.person_id for r in rows) == sorted(
            [await _id(a, "morgan"), await _id(a, "sam")]
        )
        assert len(runs) == 4  # three dailies, and Lee's weekly (Monday was a Tokyo holiday)
        assert "another replica" in caplog.text  # they did race for the managers
        assert sum(await asyncio.gather(a.digester().sweep(), b.digester().sweep())) == 0
    finally:
        await a.close()
        await b.close()


async def _id(app: Ownit, handle: str) -> int:
    async with app.db.reader() as s:
        p = (await s.exec(select(Person).where(Person.handle == handle))).one()
    assert p.id is not None
    return p.id


async def test_digest_reaches_slack_by_the_background_loop(sqlite_url: str) -> None:
    """Through ownit's real web server and the fake Slack: the loop started by run_background."""
    from tests.fakes.slack_api import FakeSlack, start_ownit, text_of, uid

    fake = await FakeSlack().start()
    ws = await start_ownit(sqlite_url, fake)
    try:
        await ws.drive.command("alex", "open Acme: invoice wrong promise wed 17:00 p2")
        await ws.drive.command(
            "alex", f"ask C-1 <@{uid('dana')}|dana> Is invoice 7 wrong? by 11:00"
        )
        assert isinstance(ws.app.clock, SimClock)
        await ws.app.clock.set(datetime(2026, 11, 24, 8, 30, tzinfo=UTC))
        await ws.app.settle()
        await ws.app.clock.set(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
        found = await fake.wait_for(
            "chat.postMessage", lambda c: "Daily digest" in text_of(c), channel="D" + uid("morgan")
        )
        assert "R-1 overdue" in text_of(found[0])
        loop = ws.app.digests
        assert loop is not None
        swept = loop.sweeps
        await _until(lambda: loop.sweeps >= swept + 2)  # two more sweeps: still one digest
        await ws.app.settle()
        digests = [c for c in fake.dms_to("morgan") if "Daily digest" in text_of(c)]
        assert len(digests) == 1
    finally:
        await ws.stop()
        await fake.close()


async def test_weekly_digest_reaches_teams_with_the_chart(sqlite_url: str) -> None:
    """Through the fake Bot Connector: the chart is attached to the weekly digest as a PNG."""
    import base64

    from tests.teams_support import ALEX, MORGAN, personal_conversation, teams_world

    async with teams_world(sqlite_url) as w:
        await w.post(w.install(MORGAN))
        await w.post(w.personal(ALEX, "case open Acme: invoice wrong promise wed 17:00 p2"))
        await w.post(w.personal(ALEX, "case ask C-1 @dana Is invoice 7 wrong? by 11:00"))
        assert isinstance(w.app.clock, SimClock)
        await w.app.clock.set(datetime(2026, 11, 24, 8, 30, tzinfo=UTC))
        await w.settle()
        await w.app.clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
        assert await w.app.digester().sweep() >= 1
        await w.settle()
        posts = w.fake.posts(personal_conversation(MORGAN))
        weekly = next(a for a in posts if "Weekly digest" in w.fake.text_of(a))
        images = [
            att for att in weekly.get("attachments") or [] if att.get("contentType") == "image/png"
        ]
        assert len(images) == 1
        url = images[0]["contentUrl"]
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]).startswith(b"\x89PNG")


async def _until(done: Callable[[], bool]) -> None:
    """Wait until `done()` holds (polled), failing after ten seconds."""
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
