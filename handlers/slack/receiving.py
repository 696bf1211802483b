"""Receiving from Slack: each delivery verified, kept in the inbox and acknowledged at once.

`/case` commands, nearly all the traffic, are verified and kept here directly; the rest go
through bolt, whose listeners call in here. What needs no database is answered on the
acknowledgement (a command that doesn't parse, a form to open). A kept command's answer rides on
it too when this process starts the command at once and finishes it within `ANSWER_WITHIN`;
else the answer goes to the `response_url` after. A modal's submission, whose errors must ride on
it, is run within the inbox's budget. Deliveries are keyed (`slack:<team>:<event id>`, the
trigger id of a command, the action's time, user and id), so Slack's retries and duplicates
change nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import grammar as c
from bot.commands import service as dispatch
from bot.runtime.app import Ownit
from handlers.slack import modals
from handlers.slack import payloads as p
from handlers.slack.handling import Handling
from handlers.slack.replies import Replies, ephemeral, for_actor, open_form
from handlers.slack.running import Runner
from storage.states import Platform

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"

Spawn = Callable[..., Any]

LEEWAY = 300  # seconds a signature's timestamp may be off, as Slack and bolt allow
ANSWER_WITHIN = 0.05  # seconds a command's acknowledgement waits to carry its answer


def signed(verifier: SignatureVerifier, raw: bytes, headers: Mapping[str, str]) -> bool:
    """Whether Slack signed these very bytes, lately (bolt's check, over the raw bytes so that a
    body that is not text, or a header that is not ASCII, is simply not signed)."""
    stamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12) or not signature.isascii():
        return False
    if abs(verifier.clock.now() - int(stamp)) > LEEWAY:
        return False
    base = b"v0:" + stamp.encode() + b":" + raw
    digest = hmac.new(verifier.signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={digest}".encode(), signature.encode())


def refused(status: int, error: str) -> web.Response:
    """A refusal on the HTTP level: a status and a word for the caller, nothing of ownit's."""
    return web.json_response({"error": error}, status=status)


class Receiver:
    def __init__(
        self,
        app: Ownit,
        client: AsyncWebClient,
        *,
        runner: Runner,
        replies: Replies,
        handling: Handling,
        bot_user: Callable[[], str | None],
        spawn: Spawn,
        verifier: SignatureVerifier | None,
    ) -> None:
        self.app = app
        self.client = client
        self.runner = runner
        self.replies = replies
        self.handling = handling
        self.bot_user = bot_user
        self.spawn = spawn
        self.verifier = verifier  # None: Socket Mode only

    async def http(self, request: web.Request, bolt: AsyncApp) -> web.Response:
        """Slack's HTTP deliveries. The signature over the raw body is checked before anything is
        read from it; a body that is then not UTF-8, JSON or a form of Slack's shape is refused
        (400), and so is one bolt can't read. `/case` commands are kept here; the rest go through
        bolt. Bolt's per-request context (a Web API client, listener matching, argument
        injection) cost more than keeping the command, and a command needs none of it: the same
        listener code runs either way."""
        raw = await request.read()  # aiohttp refuses a body over its limit (413)
        verifier = self.verifier
        if verifier is None or not signed(verifier, raw, request.headers):
            if p.is_ssl_check(raw):  # Slack's certificate check, which bolt lets through
                return web.Response(status=200)
            return refused(401, "invalid request")
        try:
            text = raw.decode()
            content_type = request.headers.get("Content-Type", "").split(";")[0]
            body = p.delivery_body(text, content_type)
        except (UnicodeDecodeError, p.Malformed):
            return refused(400, "malformed request")
        if request.content_type == FORM and body.get("command") == p.COMMAND:
            return await self._slash_command(body)
        try:
            bolt_request = AsyncBoltRequest(
                body=text,
                query=request.query_string,
                headers=dict(request.headers),
            )
            bolt_response = await bolt.async_dispatch(bolt_request)
            return await to_aiohttp_response(bolt_response)
        except Exception:
            log.warning("a signed Slack delivery could not be read", exc_info=True)
            return refused(400, "malformed request")

    async def _slash_command(self, form: dict[str, Any]) -> web.Response:
        answer = await self.acknowledge_command(form)
        return web.json_response(answer) if answer else web.Response(status=200)

    async def keep(self, kind: str, key: str, body: dict[str, Any]) -> bool | None:
        """Write a delivery to the inbox: True if new, False for a retry, None if it can't be.

        A database slower than the inbox's budget doesn't hold the acknowledgement (True): the
        write goes on, and if it fails in the end the person is told to try again (`lost`).
        """
        try:
            return await self.app.inbox.accept(Platform.SLACK, kind, key, body)
        except Exception as exc:
            self.not_kept(kind, exc)
            return None

    def not_kept(self, kind: str, exc: Exception) -> None:
        log.warning("could not keep a Slack %s (%s)", kind, exc)
        self.app.metrics.database_unavailable.inc()

    async def lost(self, kind: str, body: dict[str, Any], exc: Exception) -> None:
        self.not_kept(kind, exc)
        await self.handling.lost(kind, body)

    # ----------------------------------------------------------------------- slash command

    async def on_command(self, ack: Any, body: dict[str, Any]) -> None:
        await ack(**await self.acknowledge_command(body))

    async def acknowledge_command(self, body: dict[str, Any]) -> dict[str, Any]:
        """Keep a `/case` command and say what its acknowledgement shows ({} for nothing).

        A command that doesn't parse is answered here and kept nowhere; `/case open` alone
        opens the form (its trigger expires in 3 s, so not after the inbox).
        """
        where = p.command_where(body)
        try:
            command = p.parse(str(body.get("text") or ""))
        except c.UsageError as exc:
            return ephemeral(dispatch.refusal(exc.message, exc.usage).messages)
        if isinstance(command, c.OpenForm):
            form = modals.open_case(where.meta())
            self.spawn(open_form(self.client, body.get("trigger_id"), form))
            return {}
        key = p.command_key(body) or f"slack:{where.team}:cmd:{uuid.uuid4().hex}"
        url = where.response_url
        if url:  # before the write: the handling may begin as soon as it is done
            self.replies.await_answer(url)
        kept = await self.keep("command", key, body)
        answer = None
        if url and kept and self.app.inbox.starts_at_once():
            answer = await self.replies.answer(url, ANSWER_WITHIN)
        elif url:  # not kept, a retry (answered the first time), or queued: none comes soon
            self.replies.give_up(url)
        if kept is None:
            return ephemeral(dispatch.refusal(dispatch.DATABASE_DOWN).messages)
        return ephemeral(answer or [])

    # ----------------------------------------------------------------------- buttons

    async def on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        if not p.well_formed_action(body, action):
            await ack()
            return
        clicked = p.click(action)
        if p.answered_here(clicked):  # nothing to keep, and a form's trigger expires
            await ack()
            self.spawn(self.handling.action(body, action), name="slack-form")
            return
        if p.button_command(clicked) is None:
            await ack()
            return
        kept = await self.keep("action", p.action_key(body, action), {**body, "actions": [action]})
        await ack()
        if kept is None:
            down = dispatch.refusal(dispatch.DATABASE_DOWN).messages
            self.spawn(self.replies.tell(p.action_where(body), down))

    # ----------------------------------------------------------------------- modals, shortcut

    async def on_view(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        callback = p.text_of(view.get("callback_id"))
        where = p.view_where(body, view)
        try:
            command = modals.command(callback, view)
        except modals.FormError as exc:
            await ack(response_action="errors", errors={exc.block: exc.message[:300]})
            return
        job = self.spawn(
            self.runner.execute(command, where, p.view_key(where, view)), name="slack-view"
        )
        reply = await self.runner.within(job, self.app.inbox.budget)
        if reply is None:
            await ack()
            self.spawn(self._finish_later(job, command, where))
            return
        if not reply.ok:
            errors = {p.MAIN_FIELD[callback]: reply.plain()[:300]}
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        if not reply.duplicate:
            self.spawn(self.replies.tell(where, for_actor(reply, command)))

    async def _finish_later(self, job: Any, command: c.Command, where: p.Where) -> None:
        reply = await self.runner.later(job)
        await self.replies.tell(where, for_actor(reply, command))

    async def on_shortcut(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        where = p.shortcut_where(body)
        form = modals.open_case(where.meta(), p.shortcut_summary(body))
        self.spawn(open_form(self.client, body.get("trigger_id"), form))

    # ----------------------------------------------------------------------- events

    async def on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if not p.well_formed_event(body, event) or not event.get("user"):
            return
        await self._keep_event("mention", body)

    async def on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if p.well_formed_event(body, event) and p.message_for_ownit(event, self.bot_user()):
            await self._keep_event("message", body)

    async def _keep_event(self, kind: str, body: dict[str, Any]) -> None:
        """Events are acknowledged by bolt when the listener returns; if the inbox can't be
        written, failing makes Slack send the event again later."""
        if await self.keep(kind, p.event_key(body), body) is None:
            raise RuntimeError("the inbox could not be written; Slack will retry the event")
