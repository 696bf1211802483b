"""`ownit`: run, console, serve, demo, migrate and the simulated clock."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
import traceback
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot import report
from bot.clock import SimClock
from bot.directory import OrgFileError
from bot.notices import when_for
from bot.policy import parse_duration
from bot.runtime.app import Ownit
from bot.runtime.config import ConfigError, Settings, load_settings
from handlers.redaction import Redactor, redact_logs
from storage.db import Database, DatabaseUrlError
from storage.migrate import migrate

log = logging.getLogger("ownit")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ownit", description="One owner per customer issue.")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("run", help="the console without chat credentials, else the server")
    con = sub.add_parser("console", help="the local console (reads a script from stdin if piped)")
    con.add_argument("--as", dest="actor", default=None, help="who you are at first")
    sub.add_parser("serve", help="the web server on PORT (Slack, Teams, health)")
    sub.add_parser("demo", help="play the classic story on a simulated clock")
    sub.add_parser("migrate", help="apply database migrations")
    clock = sub.add_parser("clock", help="the simulated clock (OWNIT_CLOCK=sim)")
    clock_sub = clock.add_subparsers(dest="clock_cmd", required=True)
    clock_sub.add_parser("show")
    adv = clock_sub.add_parser("advance")
    adv.add_argument("duration", help="e.g. 3h, 30m, 1d2h")
    rep = sub.add_parser("report", help="export managers' figures as CSV or JSON")
    rep.add_argument("--since", required=True, help="first day, e.g. 2026-10-01")
    rep.add_argument("--until", default=None, help="day after the last (default: now)")
    rep.add_argument("--format", dest="fmt", choices=("csv", "json"), default="csv")
    rep.add_argument("--period", choices=("all", "week"), default="all")
    rep.add_argument("--output", "-o", default=None, help="a file (default: standard output)")
    tp = sub.add_parser("teams-package", help="build the Teams app package (zip) to upload")
    tp.add_argument("--output", "-o", default="ownit-teams.zip", help="the zip to write")
    tp.add_argument("--domain", default="example.com", help="the host ownit is served from")
    return p


async def _console(settings: Settings, actor: str | None) -> None:
    from handlers.console.terminal import Console, ConsoleChannel

    simulated = settings.clock == "sim" or "clock" not in settings.model_fields_set
    app = await Ownit.start(settings, simulated=simulated, channels=[ConsoleChannel(print)])
    try:
        if app.org_file:
            print(f"Organisation from {app.org_file}.", file=sys.stderr)
        first = actor or await _first_admin(app)
        await Console(app, actor=first).run()
    finally:
        await app.close()


async def _first_admin(app: Ownit) -> str:
    from sqlmodel import col, select

    from storage.tables import Person

    async with app.db.reader() as s:
        people = await s.exec(select(Person).order_by(col(Person.is_admin).desc(), col(Person.id)))
        first = people.first()
    return first.handle if first else "admin"


def _settle_heap() -> None:
    """Keep the collector off the request path.

    Start-up leaves a large heap that lives as long as the process (SQLAlchemy, bolt, the Bot
    Framework); left in the collector's care, every full collection walked all of it, and under
    load they ran several times a second. Frozen, it is never walked again; and since what a
    request leaves behind is freed by reference counting, the young generation can wait for
    far more allocations before it is looked at for cycles.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


async def _serve(settings: Settings) -> None:
    from aiohttp import web

    from handlers.platforms import plugins
    from handlers.web import make_web_app

    app = await Ownit.start(settings)
    web_app = await make_web_app(app, plugins(settings))
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    app.run_background()
    _settle_heap()
    log.info("ownit (%s) listening on %s:%s", settings.role, settings.host, settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await app.close()


async def _clock(settings: Settings, args: argparse.Namespace) -> None:
    if settings.clock != "sim":
        raise ConfigError("OWNIT_CLOCK: the clock is real; set OWNIT_CLOCK=sim to move it")
    db = Database(settings.database_url)
    try:
        await migrate(db)
        clock = SimClock(db)
        if args.clock_cmd == "advance":
            try:
                delta = parse_duration(args.duration)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            await clock.advance(delta)
        print(when_for(await clock.now(), settings.timezone))
    finally:
        await db.dispose()


async def _migrate(settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        await migrate(db)
    finally:
        await db.dispose()
    print("database is up to date")


async def _report(settings: Settings, args: argparse.Namespace) -> None:
    """`ownit report`: the figures of the database in the settings, on its clock."""
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
        text = await report.export(
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
    if args.output:
        await asyncio.to_thread(Path(args.output).write_text, text, "utf-8")
    else:
        sys.stdout.write(text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    redact = Redactor()  # until the settings name the secrets: URL passwords only
    try:
        settings = load_settings()
        redact = Redactor(settings.secrets)
        logging.basicConfig(
            level=settings.log_level.upper() if args.cmd == "serve" else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        redact_logs(redact)
        if args.cmd == "run":
            args.cmd = "serve" if settings.has_chat else "console"
            args.actor = None
        match args.cmd:
            case "console":
                asyncio.run(_console(settings, args.actor))
            case "serve":
                asyncio.run(_serve(settings))
            case "demo":
                from handlers.console.demo import play

                asyncio.run(play())
            case "migrate":
                asyncio.run(_migrate(settings))
            case "clock":
                asyncio.run(_clock(settings, args))
            case "report":
                asyncio.run(_report(settings, args))
            case "teams-package":
                from handlers.teams.package import build

                app_id = settings.microsoft_app_id or ""
                print(build(Path(args.output), app_id, domain=args.domain))
    except (ConfigError, OrgFileError, DatabaseUrlError) as exc:
        print(redact(f"ownit: {exc}"), file=sys.stderr)
        return 2
    except (OSError, DBAPIError) as exc:  # at start: nothing was written, a supervisor retries
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        print(redact(f"ownit: cannot reach the database at {where}: {exc}"), file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except Exception:  # what Python would print and exit with, but with the secrets hidden
        sys.stderr.write(redact(traceback.format_exc()))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
