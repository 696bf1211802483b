"""The commands that work on the database alone: migrate, the clocks, and the figures' report."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot import report
from bot.clock import SimClock
from bot.messages import sentence
from bot.notices import when_for
from bot.policy import parse_duration
from bot.runtime.app import Ownit
from bot.runtime.config import ConfigError, Settings
from handlers.cli.serving import console_is_simulated
from storage.db import Database
from storage.migrate import migrate


async def migrate_command(settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        await migrate(db)
    finally:
        await db.dispose()
    print(sentence("cli_migrated"))


async def clock(settings: Settings, args: argparse.Namespace) -> None:
    """`show` names the clock it shows: the server's (real unless OWNIT_CLOCK=sim) and, when it
    differs, the console's simulated one; `advance` moves only a clock the settings say is
    simulated, so it never seems to move a server that runs on the real clock."""
    if args.clock_cmd == "advance" and settings.clock != "sim":
        raise ConfigError(sentence("cli_clock_real_does_not_move"))
    db = Database(settings.database_url)
    try:
        await migrate(db)
        sim = SimClock(db)
        tz = settings.timezone
        if settings.clock == "sim":
            if args.clock_cmd == "advance":
                try:
                    delta = parse_duration(args.duration)
                except ValueError as exc:
                    raise ConfigError(str(exc)) from None
                await sim.advance(delta)
            print(sentence("cli_clock_simulated", when=when_for(await sim.now(), tz)))
            return
        real = when_for(datetime.now(UTC), tz)
        print(sentence("cli_clock_real", when=real))
        if console_is_simulated(settings):
            started = await sim.peek()
            if started is None:
                print(sentence("cli_clock_console_unstarted"))
            else:
                print(sentence("cli_clock_console", when=when_for(started, tz)))
    finally:
        await db.dispose()


def _writable(output: str) -> Path:
    """Refuse a file that cannot be written before any work: a missing folder is the user's."""
    path = Path(output)
    if not path.parent.is_dir():
        raise ConfigError(sentence("cli_no_such_folder", path=str(path), folder=str(path.parent)))
    return path


async def write_output(output: str | None, body: str) -> None:
    if output is None:
        sys.stdout.write(body)
        return
    path = _writable(output)
    try:
        await asyncio.to_thread(path.write_text, body, "utf-8")
    except OSError as exc:
        raise ConfigError(sentence("cli_cannot_write", path=str(path), why=exc.strerror)) from None


async def report_command(settings: Settings, args: argparse.Namespace) -> None:
    """`ownit report`: the figures of the database in the settings, on its clock."""
    if args.output:
        _writable(args.output)
    app = await Ownit.start(settings)
    try:
        now = await app.clock.now()
        cal = app.calendar
        try:
            since = report.parse_day(args.since, cal)
            until = report.parse_day(args.until, cal) if args.until else now
        except ValueError as exc:
            raise ConfigError(f"report: {exc} (give dates like 2026-10-01)") from None
        if until <= since:
            raise ConfigError("report: --until must come after --since")
        body = await report.export(
            app.db,
            since=since,
            until=until,
            now=now,
            default=cal,
            fmt=args.fmt,
            by_week=args.period == "week",
        )
    finally:
        await app.close()
    await write_output(args.output, body)
