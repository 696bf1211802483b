"""Teams users as ownit people: who sent an activity, whom it mentions, and the command it holds.

A Teams user is found by their AAD object id; on first sight their profile (fetched from the Bot
Connector before any transaction, so no lock waits on Teams) gives the e-mail that links them to
the same person in the org file or in Slack. Whether someone new counts as a person (not a guest,
not a bot, of the organisation's own tenant) is `bot.access`'s to decide from what Teams says.
Mentions become `<@id|name>` in the command text, the form the grammar reads for any platform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from botbuilder.schema import Activity, ChannelAccount
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import access
from bot.commands.service import Origin
from bot.directory import ensure_platform_person, person_by_platform
from bot.runtime.app import Ownit
from handlers.teams import activities as a
from handlers.teams import references
from handlers.teams.connector import Connector
from storage.tables import Case, Person

_MENTION_ID = re.compile(r"[\s|<>]")
_TYPED_MARKUP = re.compile(r"<(?=[@!#])")

Profiles = dict[str, dict[str, Any]]


@dataclass
class Sender:
    """Who sent an activity; `person` is None for someone who is not a person of the org."""

    person: Person | None
    uid: str
    name: str | None
    email: str | None
    tz: str | None
    missed: int = 0
    facts: Origin | None = None


def email_of(member: dict[str, Any]) -> str | None:
    for key in ("email", "userPrincipalName"):
        value = member.get(key)
        if isinstance(value, str) and "@" in value:
            return value.lower()
    return None


def is_guest(member: dict[str, Any] | None) -> bool:
    return bool(member) and str((member or {}).get("userRole") or "").lower() == "guest"


class People:
    """Identity linking for one Teams bot: Teams accounts to `Person` rows."""

    def __init__(self, app: Ownit, connector: Connector) -> None:
        self.app = app
        self.connector = connector

    async def profiles(self, act: Activity) -> Profiles:
        """Teams profiles (e-mail, AAD object id) of the sender and of the people mentioned whom
        ownit does not know yet; fetched before any transaction, so no lock waits on Teams."""
        wanted: dict[str, str] = {}
        if act.from_property is not None:
            frm = act.from_property
            wanted[frm.id] = frm.aad_object_id or frm.id
        bot_id = a.bot_id(act)
        for ent in a.mentions(act):
            mentioned = ent.get("mentioned") or {}
            if mentioned.get("id") and mentioned["id"] != bot_id:
                wanted[str(mentioned["id"])] = str(mentioned.get("aadObjectId") or mentioned["id"])
        async with self.app.db.reader() as s:
            unknown = [
                acc
                for acc, u in wanted.items()
                if await person_by_platform(s, a.PLATFORM, u) is None
            ]
        found: Profiles = {}
        for account in unknown:
            member = await self.connector.member(act.service_url, act.conversation.id, account)
            if member:
                found[account] = member
        return found

    async def identify(
        self, act: Activity, s: AsyncSession, profiles: Profiles, now: datetime
    ) -> Sender:
        """The sender as a person; on first sight their e-mail links them across platforms."""
        frm = act.from_property or ChannelAccount(id="unknown")
        uid = frm.aad_object_id or frm.id or ""
        tz = a.timezone_of(act)
        person = await person_by_platform(s, a.PLATFORM, uid) if uid else None
        email = None
        name = frm.name
        member = profiles.get(frm.id) if person is None else None
        if member:
            email = email_of(member)
            name = member.get("name") or name
            uid = member.get("aadObjectId") or uid
        facts = replace(
            self.facts(act, uid, member, known=person is not None or bool(member)),
            bot=frm.role == "bot",
            name=name,
            email=email,
            tz=tz,
        )
        if person is None and not access.outsider(facts):
            person = await ensure_platform_person(
                s,
                platform=a.PLATFORM,
                uid=uid,
                name=name,
                email=email,
                tz=tz,
                member=access.full_member(facts),
            )
        missed = 0
        if person is not None and await references.remember(s, person, act, frm):
            missed = await references.requeue_missed(s, person, now)
        return Sender(person, uid, name, email, tz, missed, facts)

    def facts(
        self, act: Activity, uid: str, member: dict[str, Any] | None, *, known: bool
    ) -> Origin:
        """What Teams says of a user, as the origin `bot.access` decides from."""
        return Origin(
            a.PLATFORM,
            uid,
            guest=is_guest(member),
            known=known,
            home=str((member or {}).get("tenantId") or a.tenant_of(act) or "") or None,
            org_home=self.app.settings.microsoft_app_tenant_id or None,
        )

    async def sender(self, act: Activity) -> Sender:
        """`identify` in its own transaction; poke delivery if messages waited for them."""
        profiles = await self.profiles(act)
        now = await self.app.clock.now()  # before the session: a simulated clock has its own
        async with self.app.db.session() as s:
            sender = await self.identify(act, s, profiles, now)
        if sender.missed:
            self.app.poke()
        return sender

    async def _mentioned(
        self, act: Activity, s: AsyncSession, mentioned: dict[str, Any], profiles: Profiles
    ) -> str:
        """The ownit user id of someone @mentioned in Teams, added (and linked by e-mail) if new."""
        mid = str(mentioned.get("id") or "")
        name = mentioned.get("name")
        uid = str(mentioned.get("aadObjectId") or mid)
        person = await person_by_platform(s, a.PLATFORM, uid)
        if person is None:
            member = profiles.get(mid)
            email = email_of(member) if member else None
            if member and member.get("aadObjectId"):
                uid = str(member["aadObjectId"])
                person = await person_by_platform(s, a.PLATFORM, uid)
            if person is None:
                facts = self.facts(act, uid, member, known=bool(member))
                person = await ensure_platform_person(
                    s,
                    platform=a.PLATFORM,
                    uid=uid,
                    name=name,
                    email=email,
                    member=access.full_member(facts),
                )
        if person is not None:
            await references.remember(s, person, act, ChannelAccount(id=mid, name=name))
        return uid

    async def command_text(self, act: Activity, s: AsyncSession, profiles: Profiles) -> str:
        """The typed text with the bot's mention removed and people's mentions as `<@id|name>`.

        Markup that only a real mention may produce (`<@…>`, `<!…>`) is defused in what was typed.
        """
        text = _TYPED_MARKUP.sub("‹", act.text or "")
        bot_id = a.bot_id(act)
        for data in a.mentions(act):
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

    async def origin(self, act: Activity) -> tuple[Origin, str]:
        """Who is speaking, where (the thread's case, if any), and the command text they sent."""
        profiles = await self.profiles(act)
        now = await self.app.clock.now()  # before the session: a simulated clock has its own
        async with self.app.db.session() as s:
            sender = await self.identify(act, s, profiles, now)
            case = await _case_of_thread(s, act.conversation.id)
            text = await self.command_text(act, s, profiles)
        if sender.missed:
            self.app.poke()
        conv = act.conversation.id
        assert sender.facts is not None
        origin = replace(
            sender.facts,
            channel=a.thread_root(conv),
            thread=a.thread_of(conv),
            case=case,
        )
        return origin, text


async def _case_of_thread(s: AsyncSession, conversation_id: str) -> str | None:
    """The case whose home is this reply chain (the latest, should there be several)."""
    if a.thread_of(conversation_id) is None:
        return None
    case = (
        await s.exec(
            select(Case)
            .where(Case.platform == a.PLATFORM, Case.thread == conversation_id)
            .order_by(col(Case.id).desc())
        )
    ).first()
    return case.key if case else None
