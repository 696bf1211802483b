"""`ownit console` and `ownit serve`: the two ways ownit runs."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys

from aiohttp import web
from sqlmodel import col, select

from bot.runtime.app import Ownit
from bot.runtime.config import Settings
from storage.tables import Person

log = logging.getLogger("ownit")


def console_is_simulated(settings: Settings) -> bool:
    """The console runs on the simulated clock unless OWNIT_CLOCK=real is set explicitly."""
    return settings.clock == "sim" or "clock" not in settings.model_fields_set


async def console(settings: Settings, actor: str | None) -> None:
    from handlers.console.terminal import Console, ConsoleChannel

    simulated = console_is_simulated(settings)
    app = await Ownit.start(settings, simulated=simulated, channels=[ConsoleChannel(print)])
    try:
        if app.org_file:
            print(f"Organisation from {app.org_file}.", file=sys.stderr)
        first = actor or await _first_admin(app)
        await Console(app, actor=first).run()
    finally:
        await app.close()


async def _first_admin(app: Ownit) -> str:
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


async def _listen(web_app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def serve(settings: Settings) -> None:
    from handlers.platforms import plugins
    from handlers.web import make_metrics_app, make_web_app

    app = await Ownit.start(settings)
    separate = settings.metrics_port is not None
    web_app = await make_web_app(app, plugins(settings), with_metrics=not separate)
    runners = [await _listen(web_app, settings.host, settings.port)]
    if settings.metrics_port is not None:
        runners.append(await _listen(make_metrics_app(app), settings.host, settings.metrics_port))
        log.info("metrics on %s:%s/metrics", settings.host, settings.metrics_port)
    app.run_background()
    _settle_heap()
    log.info("ownit (%s) listening on %s:%s", settings.role, settings.host, settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()
    await app.close()
