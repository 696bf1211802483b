"""Microsoft Teams: `POST /api/messages`, served by botbuilder's CloudAdapter in the same process.

Only this module and its `teams_*` / `render_teams` siblings know Teams. Text commands become
`dispatch.handle` calls exactly as in Slack; card buttons become the same commands; conversation
references are stored when the app is installed or first spoken to, so delivery can reach people
proactively. Moving to the Microsoft 365 Agents SDK replaces the adapter and connector here and
nothing in `bot` (docs/teams.md).

Authentication: with `MICROSOFT_APP_ID` set, every activity must carry a valid Bot Framework JWT
(checked by `ConfigurationBotFrameworkAuthentication`); without one, only loopback callers are
served (the Bot Framework Emulator, tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from botbuilder.core import InvokeResponse, TurnContext, serializer_helper
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, ActivityTypes, Attachment, ChannelAccount
from botframework.connector.auth import BotFrameworkAuthentication
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.commands import grammar as c
from bot.commands import service as dispatch
from bot.directory import ensure_platform_person, person_by_platform
from bot.messages import Message
from bot.runtime.app import Ownit
from bot.runtime.config import Settings
from handlers.teams import render as render_teams
from handlers.teams.cards import CaseCards
from handlers.teams.channel import TeamsChannel
from handlers.teams.connector import Connector
from storage.tables import Case, ConversationRef, Outbox, Person

log = logging.getLogger(__name__)

PLATFORM = "teams"
INVOKE_LIMIT = 10.0
MISSED_WINDOW = timedelta(days=7)
_MENTION_ID = re.compile(r"[\s|<>]")
_TYPED_MARKUP = re.compile(r"<(?=[@!#])")


@dataclass(frozen=True)
class _AuthConfig:
    """The attribute names `ConfigurationBotFrameworkAuthentication` reads."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str


def authentication(settings: Settings) -> BotFrameworkAuthentication:
    return ConfigurationBotFrameworkAuthentication(
        _AuthConfig(
            APP_ID=settings.microsoft_app_id or "",
            APP_PASSWORD=settings.microsoft_app_password or "",
            APP_TYPE=settings.microsoft_app_type,
            APP_TENANTID=settings.microsoft_app_tenant_id or "",
        )
    )


def is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False


def thread_root(conversation_id: str) -> str:
    """A channel conversation id without its `;messageid=` part (the channel itself)."""
    return conversation_id.split(";", 1)[0]


def _dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    data = obj.serialize() if hasattr(obj, "serialize") else {}
    return {**(getattr(obj, "additional_properties", None) or {}), **data}


def tenant_of(act: Activity) -> str | None:
    tenant = _dict(act.channel_data).get("tenant") or {}
    return tenant.get("id") or getattr(act.conversation, "tenant_id", None)


def _timezone(act: Activity) -> str | None:
    for ent in act.entities or []:
        if ent.type == "clientInfo":
            tz = _dict(ent).get("timezone")
            return str(tz) if tz else None
    return None


@dataclass
class Sender:
    person: Person
    uid: str
    name: str | None
    email: str | None
    tz: str | None
    missed: int = 0


class TeamsBot:
    """Turns Teams activities into ownit commands and ownit replies into cards."""

    def __init__(self, app: Ownit, connector: Connector, cards: CaseCards) -> None:
        self.app = app
        self.connector = connector
        self.cards = cards
        self.pending: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ the turn

    async def on_turn(self, turn: TurnContext) -> None:
        act = turn.activity
        try:
            if act.type == ActivityTypes.message:
                self._later(self.on_message(act))
            elif act.type == ActivityTypes.invoke:
                await self.on_invoke(turn)
            elif act.type in (ActivityTypes.conversation_update, ActivityTypes.installation_update):
                await self.on_install(act)
        except Exception:
            log.exception("teams activity %s (%s) failed", act.id, act.type)
            raise

    def _later(self, work: Awaitable[None]) -> None:
        """Slow work after the HTTP reply: Teams gets its 201 at once, the answer follows."""

        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("teams background work failed")

        task = asyncio.get_running_loop().create_task(run())
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def idle(self) -> None:
        """Wait for background work (tests, shutdown)."""
        while self.pending:
            await asyncio.gather(*list(self.pending), return_exceptions=True)

    # ------------------------------------------------------------------ people and references

    async def profiles(self, act: Activity) -> dict[str, dict[str, Any]]:
        """Teams profiles (e-mail, AAD object id) of the sender and of the people mentioned whom
        ownit does not know yet; fetched before any transaction, so no lock waits on Teams."""
        wanted: dict[str, str] = {}
        if act.from_property is not None:
            frm = act.from_property
            wanted[frm.id] = frm.aad_object_id or frm.id
        bot_id = act.recipient.id if act.recipient else None
        for ent in act.entities or []:
            mentioned = (_dict(ent).get("mentioned") or {}) if ent.type == "mention" else {}
            if mentioned.get("id") and mentioned["id"] != bot_id:
                wanted[str(mentioned["id"])] = str(mentioned.get("aadObjectId") or mentioned["id"])
        async with self.app.db.reader() as s:
            unknown = [
                a for a, u in wanted.items() if await person_by_platform(s, PLATFORM, u) is None
            ]
        found: dict[str, dict[str, Any]] = {}
        for account in unknown:
            member = await self.connector.member(act.service_url, act.conversation.id, account)
            if member:
                found[account] = member
        return found

    async def identify(
        self, act: Activity, s: AsyncSession, profiles: dict[str, dict[str, Any]], now: datetime
    ) -> Sender:
        """The sender as a person; on first sight their e-mail links them across platforms."""
        frm = act.from_property or ChannelAccount(id="unknown")
        uid = frm.aad_object_id or frm.id
        tz = _timezone(act)
        person = await person_by_platform(s, PLATFORM, uid)
        email = None
        name = frm.name
        if person is None:
            member = profiles.get(frm.id)
            if member:
                email = _email(member)
                name = member.get("name") or name
                uid = member.get("aadObjectId") or uid
            person = await ensure_platform_person(
                s, platform=PLATFORM, uid=uid, name=name, email=email, tz=tz
            )
        missed = 0
        if await self._remember(s, person, act, frm):
            missed = await self._requeue_missed(s, person, now)
        return Sender(person, uid, name, email, tz, missed)

    async def _remember(
        self, s: AsyncSession, person: Person, act: Activity, user: ChannelAccount
    ) -> bool:
        """Store how to reach `person`; True when they just became reachable in a personal chat."""
        assert person.id is not None
        row = (
            await s.exec(
                select(ConversationRef).where(
                    ConversationRef.person_id == person.id, ConversationRef.platform == PLATFORM
                )
            )
        ).first()
        now = datetime.now(UTC)
        personal = (act.conversation.conversation_type or "personal") == "personal"
        is_sender = act.from_property is not None and user.id == act.from_property.id
        if personal and is_sender:
            reference = TurnContext.get_conversation_reference(act).serialize()
            reference["tenantId"] = tenant_of(act)
            fresh = row is None or not row.conversation_id
            row = row or ConversationRef(
                person_id=person.id, platform=PLATFORM, conversation_id="", reference={}
            )
            row.conversation_id = act.conversation.id
            row.service_url = act.service_url
            row.tenant_id = tenant_of(act)
            row.reference = reference
            row.updated_at = now
            s.add(row)
            return fresh
        if row is None:
            s.add(
                ConversationRef(
                    person_id=person.id,
                    platform=PLATFORM,
                    conversation_id="",
                    service_url=act.service_url,
                    tenant_id=tenant_of(act),
                    reference={
                        "user": _dict(user),
                        "bot": _dict(act.recipient),
                        "serviceUrl": act.service_url,
                        "channelId": act.channel_id,
                        "tenantId": tenant_of(act),
                    },
                    updated_at=now,
                )
            )
        return False

    async def _mentioned(
        self,
        act: Activity,
        s: AsyncSession,
        mentioned: dict[str, Any],
        profiles: dict[str, dict[str, Any]],
    ) -> str:
        """The ownit user id of someone @mentioned in Teams, added (and linked by e-mail) if new."""
        mid = str(mentioned.get("id") or "")
        name = mentioned.get("name")
        uid = str(mentioned.get("aadObjectId") or mid)
        person = await person_by_platform(s, PLATFORM, uid)
        if person is None:
            member = profiles.get(mid)
            email = _email(member) if member else None
            if member and member.get("aadObjectId"):
                uid = str(member["aadObjectId"])
                person = await person_by_platform(s, PLATFORM, uid)
            if person is None:
                person = await ensure_platform_person(
                    s, platform=PLATFORM, uid=uid, name=name, email=email
                )
        await self._remember(s, person, act, ChannelAccount(id=mid, name=name))
        return uid

    async def command_text(
        self, act: Activity, s: AsyncSession, profiles: dict[str, dict[str, Any]]
    ) -> str:
        """The typed text with the bot's mention removed and people's mentions as `<@id|name>`.

        Markup that only a real mention may produce (`<@…>`, `<!…>`) is defused in what was typed.
        """
        text = _TYPED_MARKUP.sub("‹", act.text or "")
        bot_id = act.recipient.id if act.recipient else None
        for ent in act.entities or []:
            if ent.type != "mention":
                continue
            data = _dict(ent)
            mentioned = data.get("mentioned") or {}
            at = str(data.get("text") or "")
            if not at or at not in text:
                continue
            if mentioned.get("id") == bot_id:
                text = text.replace(at, " ", 1)
                continue
            uid = await self._mentioned(act, s, mentioned, profiles)
            label = _MENTION_ID.sub(" ", str(mentioned.get("name") or "")).strip()
            if _MENTION_ID.search(uid):
                continue
            text = text.replace(at, f"<@{uid}|{label}>" if label else f"<@{uid}>", 1)
        return text.replace("\xa0", " ").strip()

    async def case_of_thread(self, s: AsyncSession, conversation_id: str) -> str | None:
        if ";messageid=" not in conversation_id:
            return None
        case = (
            await s.exec(
                select(Case)
                .where(Case.platform == PLATFORM, Case.thread == conversation_id)
                .order_by(col(Case.id).desc())
            )
        ).first()
        return case.key if case else None

    async def origin(self, act: Activity) -> tuple[dispatch.Origin, str]:
        """Who is speaking, where (the thread's case, if any), and the command text they sent."""
        profiles = await self.profiles(act)
        now = await self.app.clock.now()  # before the session: a simulated clock has its own
        async with self.app.db.session() as s:
            sender = await self.identify(act, s, profiles, now)
            case = await self.case_of_thread(s, act.conversation.id)
            text = await self.command_text(act, s, profiles)
        if sender.missed:
            self.app.poke()
        conv = act.conversation.id
        origin = dispatch.Origin(
            PLATFORM,
            sender.uid,
            name=sender.name,
            email=sender.email,
            tz=sender.tz,
            channel=thread_root(conv),
            thread=conv if ";messageid=" in conv else None,
            case=case,
        )
        return origin, text

    # ------------------------------------------------------------------ messages

    async def on_message(self, act: Activity) -> None:
        value = act.value if isinstance(act.value, dict) else None
        if value and value.get("ownit"):
            await self.on_submit(act, value)
            return
        origin, text = await self.origin(act)
        if _wants_form(text):
            form = Activity(
                type=ActivityTypes.message,
                attachments=[
                    Attachment(
                        content_type=render_teams.CARD_CONTENT_TYPE,
                        content=render_teams.open_form_card(),
                    )
                ],
            )
            await self.connector.send(act.service_url, act.conversation.id, form)
            return
        reply = await dispatch.handle(self.app, text, origin, key=f"teams:{act.id}")
        if reply.duplicate:
            return
        await self.send_reply(act, reply)
        await self._refresh(reply)

    async def _refresh(self, reply: dispatch.Reply) -> None:
        if reply.ok and (reply.case or reply.request):
            await self.cards.refresh(case_key=reply.case, request_key=reply.request)

    def _personal(self, act: Activity) -> bool:
        return (act.conversation.conversation_type or "personal") == "personal"

    async def send_reply(self, act: Activity, reply: dispatch.Reply) -> None:
        conv = act.conversation.id
        for i, msg in enumerate(reply.messages):
            if (msg.private or not reply.ok) and not self._personal(act):
                if await self._to_personal(act, msg):
                    continue
            sent = await self.connector.send(act.service_url, conv, render_teams.activity(msg))
            if i == 0 and reply.ok and isinstance(reply.command, c.Open) and reply.case:
                await self._attach(reply.case, act, sent)

    async def _to_personal(self, act: Activity, msg: Message) -> bool:
        """A private reply to a channel command goes to the author's personal chat, if known."""
        frm = act.from_property
        if frm is None:
            return False
        async with self.app.db.reader() as s:
            person = await person_by_platform(s, PLATFORM, frm.aad_object_id or frm.id)
            if person is None:
                return False
            ref = (
                await s.exec(
                    select(ConversationRef).where(
                        ConversationRef.person_id == person.id,
                        ConversationRef.platform == PLATFORM,
                    )
                )
            ).first()
        if ref is None or not ref.conversation_id:
            return False
        await self.connector.send(
            ref.service_url or act.service_url, ref.conversation_id, render_teams.activity(msg)
        )
        return True

    async def _attach(self, case_key: str, act: Activity, message_id: str | None) -> None:
        """The case's home: the reply chain it was opened in (channel) or the personal chat."""
        from bot.cases import attach_thread, get_case

        conv = act.conversation.id
        async with self.app.db.session() as s:
            case = await get_case(s, case_key)
            if case.platform is not None:
                return
            await attach_thread(
                session=s,
                case=case,
                platform=PLATFORM,
                channel=thread_root(conv),
                thread=conv if ";messageid=" in conv else None,
                message_id=message_id,
            )

    # ------------------------------------------------------------------ buttons

    async def run_action(self, act: Activity, data: dict[str, Any]) -> dispatch.Reply:
        if data.get("ownit") == "open":
            customer, summary, promise, priority = render_teams.open_fields(data)
            if not customer or not summary:
                return dispatch.refusal("Give the customer and the issue.", c.usage("open"))
            origin, _typed = await self.origin(act)
            return await dispatch.run(
                self.app,
                c.Open(customer, summary, promise, priority),
                origin,
                key=f"teams:{act.id}",
            )
        command = render_teams.command_for(data)
        if command is None:
            return dispatch.refusal("That button no longer works; type the command instead.")
        origin, _typed = await self.origin(act)
        return await dispatch.handle(self.app, command, origin, key=f"teams:{act.id}")

    async def on_invoke(self, turn: TurnContext) -> None:
        act = turn.activity
        if act.name != "adaptiveCard/action":
            await turn.send_activity(
                Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=200))
            )
            return
        value = act.value if isinstance(act.value, dict) else {}
        data = dict((value.get("action") or {}).get("data") or {})
        work = asyncio.ensure_future(self.run_action(act, data))
        done, _ = await asyncio.wait({work}, timeout=INVOKE_LIMIT)
        if not done:
            self._later(self._finish_late(act, work))
            body = _toast("Working on it: I'll post the result here.")
        else:
            body = await self._invoke_body(act, work.result())
            if not work.result().duplicate:
                self._later(self._refresh(work.result()))
        await turn.send_activity(
            Activity(
                type=ActivityTypes.invoke_response, value=InvokeResponse(status=200, body=body)
            )
        )

    async def _finish_late(self, act: Activity, work: asyncio.Future[dispatch.Reply]) -> None:
        reply = await work
        if not reply.duplicate:
            await self.send_reply(act, reply)
            await self._refresh(reply)

    async def _invoke_body(self, act: Activity, reply: dispatch.Reply) -> dict[str, Any]:
        if not reply.ok:
            return _toast(render_teams.plain_text(reply.messages[0]) if reply.messages else "No.")
        if not reply.messages:
            return _toast("Done.")
        first, *rest = reply.messages
        if isinstance(reply.command, c.Open) and reply.case:
            await self._attach(reply.case, act, act.reply_to_id)  # the form card becomes the case's
        if rest and not reply.duplicate:
            for msg in rest:
                await self.connector.send(
                    act.service_url, act.conversation.id, render_teams.activity(msg)
                )
        context = await self._request_context(first.request)
        return {
            "statusCode": 200,
            "type": render_teams.CARD_CONTENT_TYPE,
            "value": render_teams.card(first, note=context),
        }

    async def _request_context(self, key: str | None) -> Message | None:
        """What the card was about, kept on the card after a button replaces it."""
        if not key:
            return None
        from bot.requests import get_request

        async with self.app.db.reader() as s:
            try:
                req = await get_request(s, key)
            except Exception:
                return None
            case = await s.get(Case, req.case_id)
        if case is None:
            return None
        return Message(
            "context",
            (f"{req.key} on {case.key} ({case.customer}): ", req.question),
            case=case.key,
            request=req.key,
        )

    async def on_submit(self, act: Activity, data: dict[str, Any]) -> None:
        """An `Action.Submit` (message back) from an older card: same command, card updated."""
        reply = await self.run_action(act, data)
        if reply.duplicate:
            return
        await self._refresh(reply)
        if reply.ok and reply.messages and act.reply_to_id:
            first, *rest = reply.messages
            context = await self._request_context(first.request)
            await self.connector.update(
                act.service_url,
                act.conversation.id,
                act.reply_to_id,
                render_teams.activity(first, note=context),
            )
            reply = dispatch.Reply(rest, case=reply.case, request=reply.request)
        await self.send_reply(act, reply)

    # ------------------------------------------------------------------ installation

    async def on_install(self, act: Activity) -> None:
        personal = self._personal(act)
        removed = act.type == ActivityTypes.installation_update and (act.action or "").startswith(
            "remove"
        )
        added = act.type == ActivityTypes.installation_update and not removed
        if act.type == ActivityTypes.conversation_update:
            bot_id = act.recipient.id if act.recipient else None
            added = any(m.id == bot_id for m in act.members_added or [])
        if not personal or act.from_property is None:
            return
        if removed:
            await self._forget(act)
            return
        profiles = await self.profiles(act)
        now = await self.app.clock.now()
        async with self.app.db.session() as s:
            sender = await self.identify(act, s, profiles, now)
        person, missed = sender.person, sender.missed
        if added:
            text = (
                f"Hi {person.name}, I'm ownit: one owner per customer issue. Type `case help` "
                "for the commands; requests from colleagues and reminders will reach you here."
            )
            if missed:
                text += f" {missed} message(s) waited for you; they follow now."
            await self.connector.send(
                act.service_url,
                act.conversation.id,
                render_teams.activity(Message("welcome", (text,))),
            )
        self.app.poke()

    async def _requeue_missed(self, s: AsyncSession, person: Person, now: datetime) -> int:
        """Messages that could not reach this person lately are sent now that they can be
        (lately by the clock that stamped them, simulated or not)."""
        since = now - MISSED_WINDOW
        rows = (
            await s.exec(
                select(Outbox).where(
                    Outbox.person_id == person.id,
                    col(Outbox.sent).is_(True),
                    col(Outbox.error).startswith("unreachable"),
                    col(Outbox.created_at) >= since,
                )
            )
        ).all()
        for row in rows:
            row.sent, row.error, row.attempts, row.claimed_until = False, None, 0, None
            s.add(row)
        return len(rows)

    async def _forget(self, act: Activity) -> None:
        frm = act.from_property
        assert frm is not None
        async with self.app.db.session() as s:
            person = await person_by_platform(s, PLATFORM, frm.aad_object_id or frm.id)
            if person is None:
                return
            for row in (
                await s.exec(
                    select(ConversationRef).where(
                        ConversationRef.person_id == person.id,
                        ConversationRef.platform == PLATFORM,
                    )
                )
            ).all():
                await s.delete(row)


def _wants_form(text: str) -> bool:
    try:
        return isinstance(dispatch.parse(text), c.OpenForm)
    except c.UsageError:
        return False


def _email(member: dict[str, Any]) -> str | None:
    for key in ("email", "userPrincipalName"):
        value = member.get(key)
        if isinstance(value, str) and "@" in value:
            return value.lower()
    return None


def _toast(text: str) -> dict[str, Any]:
    return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}


class Teams:
    """The endpoint: authentication rules, then the adapter and the bot."""

    def __init__(self, app: Ownit, *, connector_options: dict[str, Any] | None = None) -> None:
        self.app = app
        self.app_id = app.settings.microsoft_app_id
        self.auth = authentication(app.settings)
        self.adapter = CloudAdapter(self.auth)
        self.adapter.on_turn_error = self._turn_error
        self.connector = Connector(self.auth, self.app_id, **(connector_options or {}))
        self.cards = CaseCards(app, self.connector, app.settings.teams_api_url)
        self.bot = TeamsBot(app, self.connector, self.cards)
        self.channel = TeamsChannel(
            app, self.connector, app.settings.teams_api_url, cards=self.cards
        )

    async def _turn_error(self, turn: TurnContext, error: Exception) -> None:
        log.error("teams turn failed: %s", error)
        raise error

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self.app_id and not is_loopback(request.remote):
            return web.json_response(
                {"error": "MICROSOFT_APP_ID is not set: only local callers are served"}, status=403
            )
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.json_response({"error": "expected application/json"}, status=415)
        try:
            body = await request.json()
            activity = Activity().deserialize(body)
        except Exception:
            return web.json_response({"error": "not an activity"}, status=400)
        if not activity.type or activity.conversation is None or not activity.service_url:
            return web.json_response({"error": "not an activity"}, status=400)
        try:
            result = await self.auth.authenticate_request(
                activity, request.headers.get("Authorization", "")
            )
        except Exception as exc:
            log.info("teams request refused: %s", type(exc).__name__)
            return web.json_response({"error": "unauthorized"}, status=401)
        invoke = await self.adapter.process_activity(result, activity, self.bot.on_turn)
        if invoke is not None:
            body = invoke.body
            if body is not None and not isinstance(body, dict | list):
                body = serializer_helper(body)
            return web.json_response(body, status=invoke.status)
        return web.Response(status=201)

    async def close(self, _web_app: web.Application | None = None) -> None:
        await self.bot.idle()


TEAMS_KEY = web.AppKey("teams", Teams)


def plugin_with(
    **connector_options: Any,
) -> Callable[[web.Application, Ownit], Awaitable[None]]:
    """The Teams plugin; tests pass faster connector backoff."""

    async def plugin(web_app: web.Application, app: Ownit) -> None:
        teams = Teams(app, connector_options=connector_options)
        web_app[TEAMS_KEY] = teams
        if app.settings.accepts:  # a worker only delivers (notices and digests)
            web_app.router.add_post("/api/messages", teams.handle)
        web_app.on_cleanup.append(teams.close)
        app.deliverer.channels.append(teams.channel)

    return plugin


plugin = plugin_with()
