"""Slack: `/case`, buttons, modals, mentions, thread replies and App Home, through slack-bolt
(but the `/case` command over HTTP, the bulk of the traffic, which is verified and kept directly).

A command, a click, a mention or a thread reply is written to the inbox (`bot.runtime.inbox`) and
acknowledged at once; it is handled after, and its answer goes back through `response_url`,
`chat.postEphemeral` or a DM. Only what needs no database is answered on the acknowledgement (a
command that doesn't parse), and a modal's submission, whose errors must ride on it, is handled
within `ack_budget` seconds. Deliveries are keyed (`slack:<team>:<event id>`, the trigger id of a
command, the action's time, user and id), so Slack's retries and duplicates change nothing.
Cards and request posts are kept in step with the data by `slack_cards.CaseMirror`; DMs go
through the outbox (`slack_channel.SlackChannel`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import uuid
from collections.abc import Coroutine
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from sqlmodel import col, select
from yarl import URL

from bot import cases
from bot.commands import grammar as c
from bot.commands import service as dispatch
from bot.commands.service import Origin, Reply
from bot.deadlines import looks_like_deadline
from bot.directory import is_member, manages, person_by_platform
from bot.errors import Refusal
from bot.ladder import OPEN_STATES
from bot.messages import Message
from bot.runtime.app import Ownit
from bot.runtime.config import Settings
from handlers.slack import modals
from handlers.slack import render as rs
from handlers.slack.cards import CaseMirror
from handlers.slack.channel import SlackChannel
from handlers.slack.home import home_view
from handlers.slack.profiles import Profiles
from storage.tables import Case, Person, Request

log = logging.getLogger(__name__)

DEFAULT_API = "https://slack.com/api/"
ACK_BUDGET = 2.0  # Slack allows 3 s; keep a second for the network
HTTP_TIMEOUT = 30.0
SEEN_FOR = 3600.0
SHORTCUT = "open_case_from_message"
COMMAND = "/case"
FORM = "application/x-www-form-urlencoded"


def make_client(settings: Settings) -> AsyncWebClient:
    """A Web API client that waits out 429s (Retry-After) and retries dropped connections."""
    return AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url or DEFAULT_API,
        timeout=int(HTTP_TIMEOUT),
        retry_handlers=retry_handlers(),
    )


def retry_handlers() -> list[Any]:
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncConnectionErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]


def form_fields(body: str) -> dict[str, str]:
    """A form-encoded body's fields, blank ones kept. yarl's unquoting is compiled: a tenth of
    `urllib.parse.parse_qsl`'s time, which had been a tenth of an acknowledgement's."""
    return dict(URL.build(query_string=body, encoded=True).query)


def parse(text: str) -> c.Command:
    return c.parse(text, is_when=looks_like_deadline, slack_entities=True)


_MARKUP = re.compile(r"<([^<>]*)>")
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&"}


def plain_text(text: str) -> str:
    """Slack message text as plain words: mentions, channels and links as people read them."""

    def one(m: re.Match[str]) -> str:
        inner = m.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!subteam^"):
            return label or "@team"
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return f"{label} ({target})" if label and label != target else target

    text = _MARKUP.sub(one, text)
    return re.sub(r"&(lt|gt|amp);", lambda m: _ENTITIES[m.group()], text)


def user_refs(command: c.Command) -> set[str]:
    """Slack user ids a command names (`<@U…>`), to link them to people before it runs."""
    found = set()
    for f in dataclasses.fields(command):  # type: ignore[arg-type]
        value = getattr(command, f.name)
        if isinstance(value, c.Ref) and value.kind == "user":
            found.add(value.value)
    return found


@dataclass(frozen=True)
class Where:
    """Where a person spoke to ownit, so the answer goes back there."""

    team: str
    user: str
    channel: str | None = None
    thread: str | None = None
    response_url: str | None = None


@dataclass(frozen=True)
class Identity:
    user_id: str | None
    bot_id: str | None
    team_id: str | None
    url: str | None


class SlackBot:
    def __init__(
        self, app: Ownit, *, client: AsyncWebClient | None = None, ack_budget: float = ACK_BUDGET
    ) -> None:
        settings = app.settings
        self.app = app
        self.settings = settings
        self.client = client or make_client(settings)
        self.ack_budget = ack_budget
        self.close_timeout = 5.0  # what a shutdown waits for work in flight
        self.identity: Identity | None = None
        self.profiles = Profiles(self.client, SharedProfileCache(app))
        self.channel = SlackChannel(self)
        self.mirror = CaseMirror(app, self.client)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stop = asyncio.Event()
        self.home_seen: set[str] = set()
        self._dm_requests: dict[tuple[str, str], int] = {}
        self._homes_due: set[str] = set()
        self.socket: Any = None
        self.http_session: aiohttp.ClientSession | None = None
        self.bolt = AsyncApp(
            name="ownit",
            client=AsyncWebClient(base_url=settings.slack_api_url or DEFAULT_API),
            signing_secret=settings.slack_signing_secret or "",
            request_verification_enabled=bool(settings.slack_signing_secret),
            authorize=self._authorizer(),
            # Listeners only write to the inbox and acknowledge: run them before answering, so
            # the acknowledgement means "kept" (bolt's default would answer first and poll).
            process_before_response=True,
            logger=logging.getLogger("ownit.slack.bolt"),
        )
        secret = settings.slack_signing_secret
        self.verifier = SignatureVerifier(secret) if secret else None  # None: Socket Mode only
        self._register()

    # ----------------------------------------------------------------------- life cycle

    async def start(self) -> None:
        # slack_sdk opens a new HTTP session (and connection) for every call it makes without
        # one; a handled command makes several, so they share one with kept-alive connections.
        self.http_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        if self.client.session is None:
            self.client.session = self.http_session
        self.app.inbox.on("slack", self.handle, lost=self._lost)
        if self.channel not in self.app.deliverer.channels:
            self.app.deliverer.channels.append(self.channel)
        self.app.case_hooks.append(self._case_changed)
        self.spawn(self._whoami(), name="slack-auth")
        if self.settings.handles:  # a web process leaves cards and the directory to the workers
            self.spawn(self._link_directory(), name="slack-directory")
            self.spawn(self.mirror.run(self.stop), name="slack-cards")
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

    async def _whoami(self) -> None:
        delay = 1.0
        while not self.stop.is_set():
            try:
                resp = await self.client.auth_test()
                self.identity = Identity(
                    user_id=resp.get("user_id"),
                    bot_id=resp.get("bot_id"),
                    team_id=resp.get("team_id"),
                    url=resp.get("url"),
                )
                return
            except Exception as exc:
                log.warning("Slack auth.test failed (%s); retrying in %.0fs", exc, delay)
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=delay)
            except TimeoutError:
                delay = min(delay * 2, 60.0)

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

    def _authorizer(self) -> Any:
        async def authorize(
            enterprise_id: str | None, team_id: str | None, user_id: str | None
        ) -> AuthorizeResult:
            return self.authorize(enterprise_id, team_id, user_id)

        return authorize

    def authorize(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        """One workspace, one bot token: no network call per request (auth.test ran at start)."""
        ident = self.identity
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            bot_token=self.settings.slack_bot_token,
            bot_user_id=ident.user_id if ident else None,
            bot_id=ident.bot_id if ident else None,
            user_id=user_id,
        )

    async def http(self, request: web.Request) -> web.Response:
        """Slack's HTTP deliveries. `/case` commands, nearly all of them, are verified and kept
        here; the rest go through bolt. Bolt's per-request context (a Web API client, listener
        matching, argument injection) cost more than keeping the command, and a command needs
        none of it: the same listener code runs either way."""
        with self.app.inbox.arrivals.arriving():
            if request.content_type == FORM and (verifier := self.verifier) is not None:
                raw = await request.read()  # kept by aiohttp for bolt, should bolt need it
                form = form_fields(raw.decode())
                if form.get("command") == COMMAND:
                    return await self._slash_command(verifier, request, raw, form)
            bolt_request = await to_bolt_request(request)
            bolt_response = await self.bolt.async_dispatch(bolt_request)
            return await to_aiohttp_response(bolt_response)

    async def _slash_command(
        self, verifier: SignatureVerifier, request: web.Request, raw: bytes, form: dict[str, Any]
    ) -> web.Response:
        """Slack's signature checked as bolt checks it (signing secret, five minutes' leeway)."""
        try:
            signed = verifier.is_valid_request(raw, request.headers)
        except ValueError:  # a timestamp that is not a number
            signed = False
        if not signed:
            return web.json_response({"error": "invalid request"}, status=401)
        answer = await self.acknowledge_command(form)
        return web.json_response(answer) if answer else web.Response(status=200)

    @property
    def ack_budget(self) -> float:
        """Seconds an acknowledgement may wait for the database (Slack allows 3 in all)."""
        return self.app.inbox.budget

    @ack_budget.setter
    def ack_budget(self, seconds: float) -> None:
        self.app.inbox.budget = seconds

    async def keep(self, kind: str, key: str, body: dict[str, Any]) -> bool | None:
        """Write a delivery to the inbox: True if new, False for a retry, None if it can't be.

        A database slower than `ack_budget` doesn't hold the acknowledgement (True): the write
        goes on, and if it fails in the end the person is told to try again (`_lost`).
        """
        try:
            return await self.app.inbox.accept("slack", kind, key, body)
        except Exception as exc:
            self._not_kept(kind, exc)
            return None

    def _not_kept(self, kind: str, exc: Exception) -> None:
        log.warning("could not keep a Slack %s (%s)", kind, exc)
        self.app.metrics.database_unavailable.inc()

    async def _lost(self, kind: str, body: dict[str, Any], exc: Exception) -> None:
        self._not_kept(kind, exc)
        if kind in ("command", "action"):
            where = _command_where(body) if kind == "command" else _action_where(body)
            await self.tell(where, dispatch.refusal(dispatch.DATABASE_DOWN).messages)

    async def handle(self, kind: str, body: dict[str, Any], again: bool = False) -> None:
        """Handle a delivery from the inbox (after its acknowledgement).

        `again`: taken over from a replica that died, perhaps after its command was done and
        before the person was answered; the answer is then given (again: at least once).
        """
        if kind == "command":
            await self._command(body, again)
        elif kind == "action":
            await self._action(body, (body.get("actions") or [{}])[0], again)
        elif kind == "mention":
            await self._mention(body, body["event"], again)
        elif kind == "message":
            await self._message(body, body["event"], again)
        else:
            log.error("unknown Slack delivery kind %r", kind)

    def _register(self) -> None:
        """Bolt injects listener arguments by name, so each listener is a plain closure."""
        b = self.bolt

        async def on_command(ack: Any, body: dict[str, Any]) -> None:
            await self._on_command(ack, body)

        async def on_action(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            await self._on_action(ack, body, action)

        async def on_view(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
            await self._on_view(ack, body, view)

        async def on_shortcut(ack: Any, body: dict[str, Any]) -> None:
            await self._on_shortcut(ack, body)

        async def on_mention(body: dict[str, Any], event: dict[str, Any]) -> None:
            await self._on_mention(body, event)

        async def on_message(body: dict[str, Any], event: dict[str, Any]) -> None:
            await self._on_message(body, event)

        async def on_home(body: dict[str, Any], event: dict[str, Any]) -> None:
            await self._on_home_opened(body, event)

        b.command(COMMAND)(on_command)
        b.action(re.compile(f"^{rs.ACTION_PREFIX}"))(on_action)
        b.view(re.compile("^ownit_"))(on_view)
        b.shortcut(SHORTCUT)(on_shortcut)
        b.event("app_mention")(on_mention)
        b.event("message")(on_message)
        b.event("app_home_opened")(on_home)

    # ----------------------------------------------------------------------- running commands

    async def execute(
        self,
        command: c.Command,
        where: Where,
        key: str | None,
        *,
        case: str | None = None,
        again: bool = False,
    ) -> Reply:
        """Link the people involved, run the command in one transaction, place a new case.

        A failure becomes a short apology to the person rather than silence. With `again`, a
        duplicate's reply (the first one's) is given as new, to be shown to the person.
        """
        try:
            await self.profiles.link(self.app.db, {where.user} | user_refs(command))
            if isinstance(command, c.Status | c.Update):
                hidden = await self._hidden(command.case, where)
                if hidden is not None:
                    return hidden
            origin = Origin(
                "slack", where.user, channel=where.channel, thread=where.thread, case=case
            )
            reply = await dispatch.run(self.app, command, origin, key=key)
            if again:
                reply.duplicate = False
            if reply.ok and isinstance(command, c.Open) and reply.case:
                await self._place(reply.case, where)
            return reply
        except Exception:
            log.exception("Slack command %s failed", type(command).__name__)
            return dispatch.refusal("Something went wrong on my side; please try again.")

    async def _place(self, case_key: str, where: Where) -> None:
        """A case opened in Slack lives where it was opened (or in its owner's DM)."""
        channel = where.channel
        if channel is None:
            channel = await self.channel.dm(where.user)
        async with self.app.db.session() as s:
            case = await cases.get_case(s, case_key)
            if case.platform is None:
                await cases.attach_thread(
                    session=s,
                    case=case,
                    platform="slack",
                    channel=channel,
                    thread=None,
                    message_id=None,
                )
        self.mirror.kick()

    async def _hidden(self, case_key: str, where: Where) -> Reply | None:
        """A case's details are for its channel and the people involved, nobody else."""
        async with self.app.db.reader() as s:
            try:
                case = await cases.get_case(s, case_key)
            except Refusal:
                return None
            if case.channel and where.channel == case.channel:
                return None
            person = await person_by_platform(s, "slack", where.user)
            if person is not None and await involved(s, person, case):
                return None
        return dispatch.refusal(
            f"{case_key} is shown in its channel and to the people working on it. "
            "Ask its owner if you need it."
        )

    async def _within_budget(self, job: asyncio.Task[Reply]) -> Reply | None:
        done, _ = await asyncio.wait({job}, timeout=self.ack_budget)
        if job not in done:
            return None
        try:
            return job.result()
        except Exception:
            log.exception("Slack command failed")
            return dispatch.refusal("Something went wrong on my side; please try again.")

    async def _finish_later(
        self, job: asyncio.Task[Reply], command: c.Command, where: Where
    ) -> None:
        try:
            reply = await job
        except Exception:
            log.exception("Slack command failed")
            reply = dispatch.refusal("Something went wrong on my side; please try again.")
        await self.tell(where, self.for_actor(reply, command, where))

    def for_actor(
        self, reply: Reply, command: c.Command | None, where: Where, *, in_case_thread: bool = False
    ) -> list[Message]:
        """What the person who acted should see: everything, except what goes public anyway."""
        out = []
        for m in reply.messages:
            if reply.ok and m.kind == "case_opened" and isinstance(command, c.Open):
                continue
            if reply.ok and m.kind == "request_opened" and in_case_thread:
                continue
            out.append(m)
        return out

    @staticmethod
    def ephemeral(msgs: list[Message]) -> dict[str, Any]:
        if not msgs:
            return {}
        return {
            "text": rs.many_text(msgs),
            "blocks": rs.many_blocks(msgs),
            "response_type": "ephemeral",
        }

    async def tell(self, where: Where, msgs: list[Message]) -> None:
        """Show messages to one person where they acted: response_url, ephemeral, else a DM."""
        if not msgs:
            return
        text, blocks = rs.many_text(msgs), rs.many_blocks(msgs)
        if where.response_url:
            try:
                hook = AsyncWebhookClient(
                    where.response_url, session=self.http_session, retry_handlers=retry_handlers()
                )
                resp = await hook.send(
                    text=text, blocks=blocks, response_type="ephemeral", replace_original=False
                )
                if resp.status_code == 200:
                    return
                log.warning("response_url answered %s", resp.status_code)
            except Exception as exc:
                log.warning("response_url failed: %s", exc)
        if where.channel and where.channel.startswith("D"):
            try:
                await self.client.chat_postMessage(
                    channel=where.channel, thread_ts=where.thread, text=text, blocks=blocks
                )
                return
            except SlackApiError as exc:
                log.warning("posting in DM %s failed: %s", where.channel, exc)
        elif where.channel:
            try:
                await self.client.chat_postEphemeral(
                    channel=where.channel,
                    user=where.user,
                    thread_ts=where.thread,
                    text=text,
                    blocks=blocks,
                )
                return
            except SlackApiError as exc:
                log.warning("ephemeral in %s failed: %s", where.channel, exc)
        dm = await self.channel.dm(where.user)
        await self.client.chat_postMessage(channel=dm, text=text, blocks=blocks)

    async def _once(self, key: str) -> bool:
        """True the first time `key` is seen (for answers that write nothing)."""
        return await self.app.shared.claim(f"slack:seen:{key}", SEEN_FOR) is not False

    # ----------------------------------------------------------------------- slash command

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        await ack(**await self.acknowledge_command(body))

    async def acknowledge_command(self, body: dict[str, Any]) -> dict[str, Any]:
        """Keep a `/case` command and say what its acknowledgement shows ({} for nothing).

        A command that doesn't parse is answered here and kept nowhere; `/case open` alone
        opens the form (its trigger expires in 3 s, so not after the inbox).
        """
        where = _command_where(body)
        try:
            command = parse(str(body.get("text") or ""))
        except c.UsageError as exc:
            return self.ephemeral(dispatch.refusal(exc.message, exc.usage).messages)
        if isinstance(command, c.OpenForm):
            self.spawn(self._open_modal(body.get("trigger_id"), modals.open_case(_meta(where))))
            return {}
        key = _command_key(body) or f"slack:{where.team}:cmd:{uuid.uuid4().hex}"
        if await self.keep("command", key, body) is None:
            return self.ephemeral(dispatch.refusal(dispatch.DATABASE_DOWN).messages)
        return {}

    async def _command(self, body: dict[str, Any], again: bool = False) -> None:
        where = _command_where(body)
        command = parse(str(body.get("text") or ""))
        reply = await self.execute(command, where, _command_key(body), again=again)
        if not reply.duplicate:
            await self.tell(where, self.for_actor(reply, command, where))

    async def _open_modal(self, trigger_id: str | None, view: dict[str, Any]) -> None:
        if not trigger_id:
            return
        try:
            await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            log.warning("views.open failed: %s", exc.response.get("error"))

    # ----------------------------------------------------------------------- buttons

    async def _on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        name = _button_name(action)
        if name in modals.BUILDERS:  # opens a form: nothing to keep, and the trigger expires
            await ack()
            self.spawn(self._action(body, action), name="slack-form")
            return
        if _button_command(name, action) is None:
            await ack()
            return
        kept = await self.keep("action", _action_key(body, action), {**body, "actions": [action]})
        await ack()
        if kept is None:
            down = dispatch.refusal(dispatch.DATABASE_DOWN).messages
            self.spawn(self.tell(_action_where(body), down))

    async def _action(
        self, body: dict[str, Any], action: dict[str, Any], again: bool = False
    ) -> None:
        name = _button_name(action)
        key, _value = rs.read_button_value(action.get("value"))
        where = _action_where(body)
        if name in modals.BUILDERS:
            meta = {**_meta(where), "key": key}
            await self._open_modal(body.get("trigger_id"), modals.BUILDERS[name](meta))
            return
        command = _button_command(name, action)
        if command is None:
            return
        reply = await self.execute(command, where, _action_key(body, action), again=again)
        if reply.duplicate:
            return
        await self.tell(where, self.for_actor(reply, command, where))
        if where.channel is None:
            self.home_changed_uid(where.user)

    # ----------------------------------------------------------------------- modals

    async def _on_view(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        callback = str(view.get("callback_id", ""))
        meta = modals.metadata(view)
        user = body.get("user") or {}
        where = Where(
            team=str((body.get("team") or {}).get("id") or user.get("team_id") or ""),
            user=str(user.get("id") or ""),
            channel=meta.get("channel"),
            thread=meta.get("thread"),
        )
        try:
            command = modals.command(callback, view)
        except modals.FormError as exc:
            await ack(response_action="errors", errors={exc.block: exc.message[:300]})
            return
        key = f"slack:{where.team}:view:{view.get('id')}"
        job = self.spawn(self.execute(command, where, key), name="slack-view")
        reply = await self._within_budget(job)
        if reply is None:
            await ack()
            self.spawn(self._finish_later(job, command, where))
            return
        if not reply.ok:
            await ack(response_action="errors", errors={_MAIN_FIELD[callback]: reply.plain()[:300]})
            return
        await ack()
        if not reply.duplicate:
            self.spawn(self.tell(where, self.for_actor(reply, command, where)))

    async def _on_shortcut(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        message = body.get("message") or {}
        where = Where(
            team=str((body.get("team") or {}).get("id") or ""),
            user=str((body.get("user") or {}).get("id") or ""),
            channel=(body.get("channel") or {}).get("id"),
        )
        summary = plain_text(str(message.get("text") or ""))[: c.MAX_TEXT]
        self.spawn(
            self._open_modal(body.get("trigger_id"), modals.open_case(_meta(where), summary))
        )

    # ----------------------------------------------------------------------- events

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if not event.get("user"):
            return
        await self._keep_event("mention", body)

    async def _keep_event(self, kind: str, body: dict[str, Any]) -> None:
        """Events are acknowledged by bolt when the listener returns; if the inbox can't be
        written, failing makes Slack send the event again later."""
        key = f"slack:{body.get('team_id') or ''}:{body.get('event_id')}"
        if await self.keep(kind, key, body) is None:
            raise RuntimeError("the inbox could not be written; Slack will retry the event")

    async def _mention(
        self, body: dict[str, Any], event: dict[str, Any], again: bool = False
    ) -> None:
        channel, thread = event.get("channel"), event.get("thread_ts")
        where = Where(
            team=str(body.get("team_id") or ""),
            user=str(event.get("user") or ""),
            channel=channel,
            thread=thread or event.get("ts"),
        )
        if not where.user:
            return
        event_key = f"slack:{where.team}:{body.get('event_id')}"
        case = await self.case_for_thread(channel, thread)
        try:
            command = parse(str(event.get("text") or ""))
        except c.UsageError as exc:
            if await self._once(event_key):
                await self.tell(where, dispatch.refusal(exc.message, exc.usage).messages)
            return
        if isinstance(command, c.OpenForm):
            if await self._once(event_key):
                await self.tell(where, dispatch.refusal("Use `/case open` for the form.").messages)
            return
        reply = await self.execute(
            command, where, event_key, case=case.key if case is not None else None, again=again
        )
        if reply.duplicate:
            return
        in_thread = case is not None and reply.case == case.key
        await self.tell(where, self.for_actor(reply, command, where, in_case_thread=in_thread))

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return
        ident = self.identity
        if ident is not None and event.get("user") == ident.user_id:
            return
        text = str(event.get("text") or "")
        is_dm = event.get("channel_type") == "im"
        if not is_dm and (
            f"<@{ident.user_id}>" in text if ident is not None else text.lstrip().startswith("<@")
        ):
            return  # the app_mention event handles it
        if not is_dm and not event.get("thread_ts"):
            return  # channel chatter: only replies in threads can be answers
        await self._keep_event("message", body)

    async def _message(
        self, body: dict[str, Any], event: dict[str, Any], again: bool = False
    ) -> None:
        is_dm = event.get("channel_type") == "im"
        channel, ts = str(event.get("channel") or ""), str(event.get("ts") or "")
        thread = event.get("thread_ts")
        where = Where(
            team=str(body.get("team_id") or ""),
            user=str(event["user"]),
            channel=channel,
            thread=thread or (ts if is_dm else None),
        )
        key = f"slack:{where.team}:{body.get('event_id')}"
        text = str(event.get("text") or "")
        if is_dm and (not thread or thread == ts):
            try:
                command = parse(text)
            except c.UsageError as exc:
                if await self._once(key):
                    await self.tell(where, dispatch.refusal(exc.message, exc.usage).messages)
                return
            if isinstance(command, c.OpenForm):
                command = c.Help("open")
            reply = await self.execute(command, where, key, again=again)
            if not reply.duplicate:
                await self.tell(where, self.for_actor(reply, command, where))
            return
        if not thread or thread == ts:
            return
        await self.profiles.link(self.app.db, {where.user})
        if is_dm:
            req_key, hint = await self.request_for_dm(channel, str(thread), where.user)
        else:
            case = await self.case_for_thread(channel, str(thread))
            if case is None:
                return
            req_key, hint = await self.request_in_case(case, where.user)
        if req_key is None:
            if hint and await self._once(key):
                await self.tell(where, [Message("hint", (hint,), private=True)])
            return
        answer = plain_text(text).strip()
        if not answer:
            return
        command = c.Answer(req_key, answer[: c.MAX_TEXT])
        reply = await self.execute(command, where, key, again=again)
        if not reply.duplicate:
            await self.tell(where, self.for_actor(reply, command, where))

    async def _on_home_opened(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        user = str(event["user"])
        self.home_seen.add(user)
        self.spawn(self.publish_home(user), name="slack-home")

    # ----------------------------------------------------------------------- lookups

    async def case_for_thread(self, channel: str | None, thread: str | None) -> Case | None:
        if not channel or not thread:
            return None
        async with self.app.db.reader() as s:
            return (
                await s.exec(
                    select(Case).where(
                        Case.platform == "slack", Case.channel == channel, Case.thread == thread
                    )
                )
            ).first()

    async def request_for_dm(
        self, channel: str, thread: str, user: str
    ) -> tuple[str | None, str | None]:
        """The request a reply in a DM thread answers: the DM it replies to, else the only one."""
        async with self.app.db.reader() as s:
            req = (
                await s.exec(
                    select(Request).where(
                        Request.dm_channel == channel, Request.dm_message == thread
                    )
                )
            ).first()
            if req is None and (channel, thread) in self._dm_requests:
                req = await s.get(Request, self._dm_requests[(channel, thread)])
            if req is not None:
                return req.key, None
            person = await person_by_platform(s, "slack", user)
            if person is None:
                return None, None
            mine = await open_requests_of(s, person)
        if len(mine) == 1:
            return mine[0].key, None
        if not mine:
            return None, "Nothing is waiting on you, so I did not record that as an answer."
        keys = ", ".join(r.key for r in mine)
        return None, f"Which request is that for ({keys})? Use `/case answer R-… <text>`."

    async def request_in_case(self, case: Case, user: str) -> tuple[str | None, str | None]:
        """In a case thread, a reply by the colleague asked is their answer (if only one)."""
        async with self.app.db.reader() as s:
            person = await person_by_platform(s, "slack", user)
            if person is None:
                return None, None
            mine = [r for r in await open_requests_of(s, person) if r.case_id == case.id]
        if len(mine) == 1:
            return mine[0].key, None
        if len(mine) > 1:
            keys = ", ".join(r.key for r in mine)
            return None, f"You have several open requests here ({keys}): use `/case answer R-… …`."
        return None, None

    def remember_dm(self, channel: str, ts: str, request_id: int) -> None:
        if len(self._dm_requests) > 50_000:
            self._dm_requests.clear()
        self._dm_requests[(channel, ts)] = request_id

    async def thread_link(self, case_key: str | None) -> str | None:
        if not case_key:
            return None
        try:
            case_id = cases.parse_key(case_key, "C")
        except Refusal:
            return None
        async with self.app.db.reader() as s:
            case = await s.get(Case, case_id)
        if case is None or case.platform != "slack" or not case.channel or not case.thread:
            return None
        if case.thread.startswith("pending:"):
            return None
        base = (self.identity.url if self.identity and self.identity.url else None) or (
            "https://slack.com/"
        )
        if not base.endswith("/"):
            base += "/"
        return f"{base}archives/{case.channel}/p{case.thread.replace('.', '')}"

    # ----------------------------------------------------------------------- change and home

    def _case_changed(self, key: str) -> None:
        if key.startswith("R-"):
            with suppress(Refusal):
                self.mirror.touch(cases.parse_key(key, "R"))
            return
        try:
            case_id = cases.parse_key(key, "C")
        except Refusal:
            return
        self.mirror.kick(case_id)
        if self.home_seen:
            self.spawn(self._homes_for_case(case_id))

    async def _homes_for_case(self, case_id: int) -> None:
        async with self.app.db.reader() as s:
            case = await s.get(Case, case_id)
            if case is None:
                return
            ids = {case.owner_id}
            for r in (await s.exec(select(Request).where(Request.case_id == case_id))).all():
                ids |= {r.asked_by_id, r.assignee_id} - {None}  # type: ignore[arg-type]
            people = (await s.exec(select(Person).where(col(Person.id).in_(ids)))).all()
            managers = {p.manager_id for p in people if p.manager_id}
            if managers:
                people = [
                    *people,
                    *(await s.exec(select(Person).where(col(Person.id).in_(managers)))).all(),
                ]
        for p in people:
            self.home_changed(p)

    def home_changed(self, person: Person) -> None:
        if person.slack_id:
            self.home_changed_uid(person.slack_id)

    def home_changed_uid(self, user: str) -> None:
        if user not in self.home_seen or user in self._homes_due:
            return
        self._homes_due.add(user)
        self.spawn(self.publish_home(user))

    async def publish_home(self, user: str) -> None:
        self._homes_due.discard(user)
        await self.profiles.link(self.app.db, {user})
        rules = await self.app.rules()
        now = await self.app.clock.now()
        async with self.app.db.reader() as s:
            person = await person_by_platform(s, "slack", user)
            if person is None:
                return
            owned = (
                await s.exec(select(Case).where(Case.owner_id == person.id, Case.status == "open"))
            ).all()
        links = {}
        for case in owned:
            link = await self.thread_link(case.key)
            if link and case.id is not None:
                links[case.id] = link
        async with self.app.db.reader() as s:
            view = await home_view(s, person=person, rules=rules, now=now, links=links)
        try:
            await self.client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            log.warning("views.publish for %s failed: %s", user, exc.response.get("error"))


_MAIN_FIELD = {
    modals.OPEN: "summary",
    modals.ANSWER: "text",
    modals.MORE_TIME: "when",
    modals.REDIRECT: "reason",
    modals.RATE: "score",
}


def _command_where(body: dict[str, Any]) -> Where:
    return Where(
        team=str(body.get("team_id") or ""),
        user=str(body.get("user_id") or ""),
        channel=body.get("channel_id"),
        response_url=body.get("response_url"),
    )


def _command_key(body: dict[str, Any]) -> str | None:
    """A slash command is one delivery per trigger id (Slack always sends one)."""
    trigger = body.get("trigger_id")
    return f"slack:{body.get('team_id') or ''}:cmd:{trigger}" if trigger else None


def _action_where(body: dict[str, Any]) -> Where:
    user = body.get("user") or {}
    return Where(
        team=str((body.get("team") or {}).get("id") or user.get("team_id") or ""),
        user=str(user.get("id") or ""),
        channel=(body.get("channel") or {}).get("id"),
        thread=(body.get("container") or {}).get("thread_ts"),
        response_url=body.get("response_url"),
    )


def _button_name(action: dict[str, Any]) -> str:
    return str(action.get("action_id", ""))[len(rs.ACTION_PREFIX) :]


def _button_command(name: str, action: dict[str, Any]) -> c.Command | None:
    """The command a button stands for (None: a button that opens a form, or an unknown one)."""
    key, value = rs.read_button_value(action.get("value"))
    commands: dict[str, c.Command] = {
        "ack": c.Ack(key, None),
        "accept": c.Decide(key, True, None),
        "decline": c.Decide(key, False, None),
        "shorten": c.Deadline(key, value),
        "update": c.Update(key),
    }
    return commands.get(name)


def _action_key(body: dict[str, Any], action: dict[str, Any]) -> str:
    """A click is one delivery: its time, who clicked, which button and on what."""
    where = _action_where(body)
    key, _value = rs.read_button_value(action.get("value"))
    name = _button_name(action)
    return f"slack:{where.team}:act:{action.get('action_ts')}:{where.user}:{name}:{key}"


def _meta(where: Where) -> dict[str, Any]:
    return {"channel": where.channel, "thread": where.thread}


async def open_requests_of(s: Any, person: Person) -> list[Request]:
    """Open requests this person is asked (directly, or unclaimed for one of their teams)."""
    rows = (
        await s.exec(
            select(Request)
            .where(col(Request.status).in_(OPEN_STATES))
            .order_by(col(Request.id).desc())
        )
    ).all()
    out = []
    for r in rows:
        if r.assignee_id == person.id:
            out.append(r)
        elif r.assignee_id is None and r.team_id and person.id is not None:
            if await is_member(s, r.team_id, person.id):
                out.append(r)
    return out


async def involved(s: Any, person: Person, case: Case) -> bool:
    """The owner, their managers, admins, and whoever asked, was asked or answered on it."""
    if await cases.may_manage_case(s, person, case):
        return True
    reqs = (await s.exec(select(Request).where(Request.case_id == case.id))).all()
    for r in reqs:
        if person.id in (r.asked_by_id, r.assignee_id, r.answered_by_id):
            return True
        if r.team_id and person.id is not None and await is_member(s, r.team_id, person.id):
            return True
        if r.assignee_id:
            assignee = await s.get(Person, r.assignee_id)
            if assignee is not None and await manages(s, person, assignee):
                return True
    return False


class SharedProfileCache:
    """Profiles in the app's shared store: in-process alone, Redis when replicas share one."""

    def __init__(self, app: Ownit) -> None:
        self.app = app

    async def get(self, key: str) -> dict[str, Any] | None:
        value = await self.app.shared.get(key)
        return value if isinstance(value, dict) else None

    async def set(self, key: str, value: dict[str, Any], ttl: float) -> None:
        await self.app.shared.put(key, value, ttl)


SLACK_KEY = web.AppKey("slack", SlackBot)


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


__all__ = ["SLACK_KEY", "SlackBot", "involved", "plugin"]
