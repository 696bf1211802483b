"""Slack: `/case`, buttons, modals, mentions, thread replies and App Home, through slack-bolt
(but the `/case` command over HTTP, the bulk of the traffic, which is verified and kept directly).

This module puts the pieces together and runs their life cycle: receiving and acknowledging
(`receiving`), reading payloads into Commands (`payloads`), handling what the inbox kept
(`handling`, `running`), answering (`replies`), App Home (`home_tab`), who ownit is
(`identity`), case cards and request posts (`cards.CaseMirror`) and DMs through the outbox
(`channel.SlackChannel`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine
from contextlib import suppress
from typing import Any

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot import cases
from bot.errors import Refusal
from bot.runtime.app import Ownit
from handlers.slack.cards import CaseMirror
from handlers.slack.channel import SlackChannel
from handlers.slack.handling import Handling
from handlers.slack.home_tab import Homes
from handlers.slack.identity import Whoami
from handlers.slack.listeners import make_bolt, register
from handlers.slack.profiles import Profiles, SharedProfileCache
from handlers.slack.receiving import Receiver
from handlers.slack.replies import Replies
from handlers.slack.running import Runner
from handlers.slack.threads import ThreadLinks
from handlers.slack.web_api import DEFAULT_API, HTTP_TIMEOUT, make_client
from storage.states import Platform

log = logging.getLogger(__name__)

ACK_BUDGET = 2.0  # Slack allows 3 s; keep a second for the network


class SlackBot:
    """The Slack platform of one process: its parts, started and stopped together."""

    def __init__(
        self, app: Ownit, *, client: AsyncWebClient | None = None, ack_budget: float = ACK_BUDGET
    ) -> None:
        settings = app.settings
        self.app = app
        self.settings = settings
        self.client = client or make_client(settings)
        self.ack_budget = ack_budget
        self.close_timeout = 5.0  # what a shutdown waits for work in flight
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stop = asyncio.Event()
        self.socket: Any = None
        self.http_session: aiohttp.ClientSession | None = None
        self.whoami = Whoami(self.client, settings.slack_bot_token)
        self.profiles = Profiles(
            self.client, SharedProfileCache(app.shared), workspace=lambda: self.whoami.team_id
        )
        self.mirror = CaseMirror(app, self.client)
        self.links = ThreadLinks(app.db, lambda: self.whoami.url)
        self.homes = Homes(
            app, self.client, self.profiles, thread_link=self.links.read, spawn=self.spawn
        )
        self.channel = SlackChannel(
            self.client,
            app.db,
            thread_link=self.links.link,
            person_changed=self.homes.changed,
            link_by_email=lambda person: self.profiles.link_one(app.db, person),
        )
        self.replies = Replies(
            self.client, http_session=lambda: self.http_session, dm=self.channel.dm
        )
        self.runner = Runner(app, self.profiles, dm=self.channel.dm, placed=self.mirror.kick)
        self.handling = Handling(
            app,
            self.client,
            self.runner,
            self.replies,
            self.channel,
            self.profiles,
            home_changed=self.homes.changed_uid,
        )
        secret = settings.slack_signing_secret
        self.receiver = Receiver(
            app,
            self.client,
            runner=self.runner,
            replies=self.replies,
            handling=self.handling,
            bot_user=lambda: self.whoami.user_id,
            spawn=self.spawn,
            verifier=SignatureVerifier(secret) if secret else None,
        )
        self.bolt = make_bolt(
            api_url=settings.slack_api_url or DEFAULT_API,
            signing_secret=secret,
            authorize=self.whoami.authorizer(),
        )
        register(self.bolt, self.receiver, self.homes.opened)

    @property
    def ack_budget(self) -> float:
        """Seconds an acknowledgement may wait for the database (Slack allows 3 in all)."""
        return self.app.inbox.budget

    @ack_budget.setter
    def ack_budget(self, seconds: float) -> None:
        self.app.inbox.budget = seconds

    async def http(self, request: web.Request) -> web.Response:
        """`POST /slack/events`."""
        return await self.receiver.http(request, self.bolt)

    # ----------------------------------------------------------------------- life cycle

    async def start(self) -> None:
        # slack_sdk opens a new HTTP session (and connection) for every call it makes without
        # one; a handled command makes several, so they share one with kept-alive connections.
        self.http_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        if self.client.session is None:
            self.client.session = self.http_session
        self.app.inbox.on(Platform.SLACK, self.handling.handle, lost=self.receiver.lost)
        if self.channel not in self.app.deliverer.channels:
            self.app.deliverer.channels.append(self.channel)
        self.app.case_hooks.append(self._case_changed)
        self.app.hooks.row_hooks.append(self._rows_changed)
        self.spawn(self.whoami.run(self.stop), name="slack-auth")
        # Every process posts the requests it makes and redraws the cards of what it changed; a
        # web process leaves the rest (new cases' cards, what a crash left) and the directory to
        # the workers.
        self.mirror.looks = self.settings.handles
        self.spawn(self.mirror.run(self.stop), name="slack-cards")
        if self.settings.handles:
            self.spawn(self._link_directory(), name="slack-directory")
            self.app.wake_hooks.append(self.mirror.kick)
        if self.settings.slack_app_token and self.settings.accepts:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            self.socket = AsyncSocketModeHandler(
                self.bolt, self.settings.slack_app_token, web_client=self.client
            )
            self.spawn(self._connect_socket(), name="slack-socket")

    async def close(self) -> None:
        await self.app.inbox.close()  # what is in hand is finished while Slack is still here
        self.stop.set()
        self.mirror.wake.set()
        if self._case_changed in self.app.case_hooks:
            self.app.case_hooks.remove(self._case_changed)
        if self._rows_changed in self.app.hooks.row_hooks:
            self.app.hooks.row_hooks.remove(self._rows_changed)
        if self.mirror.kick in self.app.wake_hooks:
            self.app.wake_hooks.remove(self.mirror.kick)
        if self.channel in self.app.deliverer.channels:
            self.app.deliverer.channels.remove(self.channel)
        if self.socket is not None:
            try:
                await self.socket.close_async()
            except Exception:
                log.exception("closing Socket Mode failed")
        pending = list(self.tasks)
        if pending:
            _done, late = await asyncio.wait(pending, timeout=self.close_timeout)
            for task in late:
                task.cancel()
        if self.http_session is not None:
            if self.client.session is self.http_session:
                self.client.session = None
            await self.http_session.close()
            self.http_session = None

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Slack task %s failed", task.get_name(), exc_info=task.exception())

    async def _link_directory(self, every: float = 3600.0) -> None:
        """Link org-file people to Slack users by e-mail now, and again every hour."""
        while not self.stop.is_set():
            try:
                linked = await self.profiles.link_by_email(self.app.db)
                if linked:
                    log.info("linked %s people to their Slack users by e-mail", linked)
            except Exception:
                log.exception("linking people to Slack users failed")
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=every)
            except TimeoutError:
                pass

    async def _connect_socket(self) -> None:
        delay = 1.0
        while not self.stop.is_set():
            try:
                await self.socket.connect_async()
                log.info("Slack Socket Mode connected")
                return
            except Exception as exc:
                log.warning("Slack Socket Mode failed to connect (%s); retrying", exc)
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=delay)
            except TimeoutError:
                delay = min(delay * 2, 60.0)

    def _rows_changed(self, rows: Collection[object], made: Collection[int]) -> None:
        """What a change here held: its card and posts are drawn from it."""
        self.mirror.hand(rows, made)

    def _case_changed(self, key: str) -> None:
        """A case or request changed: its card is redrawn and App Homes around it too."""
        if key.startswith("R-"):
            with suppress(Refusal):
                self.mirror.touch(cases.parse_key(key, "R"))
            return
        try:
            case_id = cases.parse_key(key, "C")
        except Refusal:
            return
        self.mirror.kick(case_id)
        self.homes.case_changed(case_id)


SLACK_KEY = web.AppKey(Platform.SLACK, SlackBot)


async def plugin(web_app: web.Application, app: Ownit) -> None:
    """Mount Slack on the web app: `POST /slack/events` (HTTP mode) and Socket Mode if set.

    A worker process serves neither: it handles what the web processes acknowledged."""
    bot = SlackBot(app)
    web_app[SLACK_KEY] = bot
    if app.settings.slack_signing_secret and app.settings.accepts:
        web_app.router.add_post("/slack/events", bot.http)

    async def _start(_: web.Application) -> None:
        await bot.start()

    async def _stop(_: web.Application) -> None:
        await bot.close()

    web_app.on_startup.append(_start)
    web_app.on_cleanup.append(_stop)


__all__ = ["SLACK_KEY", "SlackBot", "plugin"]
