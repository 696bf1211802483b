"""Microsoft Teams: `POST /api/messages`, received, kept in the inbox, acknowledged.

Every activity ownit acts on (a message, a card button's invoke, the app installed or removed) is
written to the inbox (`bot.runtime.inbox`) before Teams gets its answer, and handled after by an
inbox worker (`turns.TeamsBot`), as Slack's deliveries are: a replica that dies with it unhandled
leaves it to another, and its key (the activity id) makes a Bot Framework retry a duplicate.

An `Action.Execute` invoke must be answered with the replacement card on its own HTTP response.
It too is kept and handled by the worker, exactly once; the request waits (`answers.Answers`) up
to `INVOKE_LIMIT` seconds for this process's worker to hand it the reply, which it renders. A
slower command, or a process that does not handle the inbox (the `web` role), answers "working on
it" at once and the worker posts the reply in the conversation instead. Running the command in
the request as well would risk doing it in two places, or losing it with the request.

Only this package knows Teams; moving to the Microsoft 365 Agents SDK replaces it and nothing in
`bot` (docs/teams.md).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from botbuilder.schema import Activity, ActivityTypes

from bot.commands import service as dispatch
from bot.commands.repeats import first_answer
from bot.runtime.app import Ownit
from handlers.teams import activities as a
from handlers.teams.auth import authentication, is_loopback
from handlers.teams.cards import CaseCards
from handlers.teams.channel import TeamsChannel
from handlers.teams.connector import Connector
from handlers.teams.replies import toast
from handlers.teams.turns import TeamsBot
from handlers.teams.wording import wording

log = logging.getLogger(__name__)

INVOKE_LIMIT = 10.0  # seconds an invoke waits for its reply (Teams gives up after 15)

__all__ = ["INVOKE_LIMIT", "TEAMS_KEY", "Teams", "plugin", "plugin_with"]


class Teams:
    """The endpoint: authentication rules, then the inbox; the bot handles what was kept."""

    def __init__(self, app: Ownit, *, connector_options: dict[str, Any] | None = None) -> None:
        self.app = app
        self.app_id = app.settings.microsoft_app_id
        self.auth = authentication(app.settings)
        self.connector = Connector(self.auth, self.app_id, **(connector_options or {}))
        self.cards = CaseCards(app, self.connector, app.settings.teams_api_url)
        self.bot = TeamsBot(app, self.connector, self.cards)
        self.channel = TeamsChannel(
            app, self.connector, app.settings.teams_api_url, cards=self.cards
        )
        self.invoke_limit = INVOKE_LIMIT

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Who is calling first (a local caller, or a bearer token), then the body read, then the
        token checked against the activity it came with (Bot Framework binds the two)."""
        if not self.app_id and not is_loopback(request.remote):
            return web.json_response(
                {"error": "MICROSOFT_APP_ID is not set: only local callers are served"}, status=403
            )
        header = request.headers.get("Authorization", "")
        if self.app_id and not a.bearer(header):
            log.info("teams request refused: no bearer token")
            return web.json_response({"error": "unauthorized"}, status=401)
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.json_response({"error": "expected application/json"}, status=415)
        raw = await request.read()  # aiohttp refuses a body over its limit (413)
        activity, body = a.read_activity(raw)
        if activity is None:
            return web.json_response({"error": "not an activity"}, status=400)
        try:
            await self.auth.authenticate_request(activity, header)
        except Exception as exc:
            log.info("teams request refused: %s", type(exc).__name__)
            return web.json_response({"error": "unauthorized"}, status=401)
        kind = a.kind_of(activity)
        if kind is a.Kind.INVOKE:
            return web.json_response(await self.invoke(activity, body), status=200)
        if kind is None:  # nothing ownit acts on (another invoke: answered, and that is all)
            if activity.type == ActivityTypes.invoke:
                return web.json_response(None, status=200)
            return web.Response(status=201)
        if await self.keep(kind, activity, body) is None:
            return web.json_response({"error": "try again"}, status=503)  # Teams may retry
        return web.Response(status=201)

    async def keep(self, kind: a.Kind, act: Activity, body: dict[str, Any]) -> bool | None:
        """Write an activity to the inbox: True if new, False for a retry, None if it can't be."""
        key = a.delivery_key(act) or f"teams:anonymous:{uuid.uuid4().hex}"
        try:
            return await self.app.inbox.accept(a.PLATFORM, kind, key, body)
        except Exception as exc:
            log.warning("could not keep a Teams %s (%s)", kind, exc)
            self.app.metrics.database_unavailable.inc()
            return None

    async def invoke(self, act: Activity, body: dict[str, Any]) -> dict[str, Any]:
        """Keep the press, then wait for this process's worker to hand over the reply."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        key = a.delivery_key(act)
        local = key is not None and self.app.settings.handles and self.app.inbox.workers > 0
        waiting = self.bot.answers.expect(key) if local and key else None
        try:
            kept = await self.keep(a.Kind.INVOKE, act, body)
            if kept is None:
                return toast(dispatch.DATABASE_DOWN)
            if kept is False and (first := await first_answer(self.app, key)) is not None:
                return await self.bot.replies.invoke_body(first)  # a retry of one handled
            if waiting is None:
                return toast(wording("teams_working"))
            left = self.invoke_limit - (loop.time() - began)
            try:
                reply = await asyncio.wait_for(waiting, timeout=max(left, 0.0))
            except TimeoutError:
                return toast(wording("teams_working"))
        finally:
            if waiting is not None and key is not None:
                self.bot.answers.forget(key, waiting)
        return await self.bot.replies.invoke_body(reply)

    async def close(self, _web_app: web.Application | None = None) -> None:
        """What the workers have in hand is finished while the connector is still here."""
        await self.app.inbox.close()


TEAMS_KEY = web.AppKey("teams", Teams)


def plugin_with(
    **connector_options: Any,
) -> Callable[[web.Application, Ownit], Awaitable[None]]:
    """The Teams plugin; tests pass faster connector backoff."""

    async def plugin(web_app: web.Application, app: Ownit) -> None:
        teams = Teams(app, connector_options=connector_options)
        web_app[TEAMS_KEY] = teams
        if app.settings.accepts:  # a worker only handles the inbox and delivers
            web_app.router.add_post("/api/messages", teams.handle)
        app.inbox.on(a.PLATFORM, teams.bot.handle, lost=teams.bot.lost)
        web_app.on_cleanup.append(teams.close)
        app.deliverer.channels.append(teams.channel)

    return plugin


plugin = plugin_with()
