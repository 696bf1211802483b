"""The aiohttp application every platform plugs into: health, readiness and its own routes.

Every route refuses malformed, oversized or unauthenticated input itself, with a 4xx; the
middleware here is the last guard, so that a failure nobody foresaw is logged and answered with a
bare status, never with a traceback (aiohttp shows one in debug mode).

`/metrics` is on the public application unless `OWNIT_METRICS_PORT` is set: then it is served
only by a second application on that port (`make_metrics_app`), which a deployment keeps off the
internet, since the figures describe the organisation's work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy import text

from bot.runtime.app import Ownit
from handlers import pages

APP_KEY = web.AppKey("ownit", Ownit)

Plugin = Callable[[web.Application, Ownit], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_BODY = 1024**2  # bytes; a larger body is refused (413) before it is read

log = logging.getLogger(__name__)


@web.middleware
async def no_tracebacks(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    try:
        async with app.db.reader() as s:
            await s.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception as exc:
        return web.json_response({"status": "unavailable", "database": str(exc)[:200]}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format: commands, duplicates caught, steps fired, scheduler lag."""
    app = request.app[APP_KEY]
    body = app.metrics.render()
    return web.Response(body=body, headers={"Content-Type": app.metrics.content_type})


async def make_web_app(
    app: Ownit, plugins: list[Plugin] | None = None, *, with_metrics: bool = True
) -> web.Application:
    web_app = web.Application(client_max_size=MAX_BODY, middlewares=[no_tracebacks])
    web_app[APP_KEY] = app
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    if with_metrics:
        web_app.router.add_get("/metrics", metrics)
    pages.add_routes(web_app)
    for plugin in plugins or []:
        await plugin(web_app, app)
    return web_app


def make_metrics_app(app: Ownit) -> web.Application:
    """The application of `OWNIT_METRICS_PORT`: `/metrics` and nothing else."""
    metrics_app = web.Application()
    metrics_app[APP_KEY] = app
    metrics_app.router.add_get("/metrics", metrics)
    return metrics_app
