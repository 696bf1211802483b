"""Delivery to Teams: proactive messages through stored conversation references.

A notice to a case's owner about a case that lives in a Teams channel goes into the case's reply
chain (the conversation id with its `;messageid=` part), mentioning the owner; everything else
goes to the person's personal chat with the bot; either names commands as they are sent there.
A person seen only in a channel or in a mention gets a personal chat created on first use. Someone
the bot cannot reach yet raises `Unreachable` with what to do, and delivery tells the case owner.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from bot.directory import mention
from bot.messages import Message
from bot.runtime.app import Ownit
from bot.runtime.delivery import Unreachable
from bot.runtime.outbox import Notice
from handlers.teams import render as render_teams
from handlers.teams import syntax
from handlers.teams.activities import PLATFORM
from handlers.teams.cards import CaseCards
from handlers.teams.connector import Connector, ConnectorError
from handlers.teams.references import latest_service_url
from handlers.teams.wording import wording
from storage.tables import Case, ConversationRef, Person

log = logging.getLogger(__name__)

GONE = frozenset({401, 403, 404})


def install_hint(person: Person) -> str:
    """What the case owner is told about someone ownit cannot reach in Teams yet."""
    return wording("teams_install_hint", name=person.name)


class TeamsChannel:
    name: str = PLATFORM

    def __init__(
        self,
        app: Ownit,
        connector: Connector,
        default_service_url: str | None,
        *,
        cards: CaseCards | None = None,
    ) -> None:
        self.app = app
        self.connector = connector
        self.default_service_url = default_service_url
        self.cards = cards

    async def send(self, person: Person, msg: Message, row: Notice) -> None:
        await self._send(person, msg, row)
        if self.cards is not None and row.case_id is not None:
            await self.cards.refresh(case_key=f"C-{row.case_id}")

    def reaches(self, person: Person) -> bool:
        return bool(person.teams_id)

    async def _send(self, person: Person, msg: Message, row: Notice) -> None:
        async with self.app.db.reader() as s:
            ref = (
                await s.exec(
                    select(ConversationRef).where(
                        ConversationRef.person_id == person.id,
                        ConversationRef.platform == PLATFORM,
                    )
                )
            ).first()
            case = await s.get(Case, row.case_id) if row.case_id else None
            fallback_url = await self._any_service_url(s)
        if (
            case is not None
            and case.platform == PLATFORM
            and case.thread
            and case.owner_id == person.id
            and not msg.private
        ):
            service_url = (ref.service_url if ref else None) or fallback_url
            if service_url:
                in_thread = syntax.message(msg, in_channel=True)
                activity = render_teams.activity(in_thread, to=mention(person))
                try:
                    await self.connector.send(service_url, case.thread, activity)
                    return
                except ConnectorError as exc:
                    if exc.status not in GONE:
                        raise
                    log.info("case thread of %s is gone (%s); personal chat", case.key, exc)
        if ref is None:
            raise Unreachable(install_hint(person))
        service_url = ref.service_url or fallback_url
        if not service_url:
            raise Unreachable(install_hint(person))
        conversation_id = ref.conversation_id or await self._open_personal(person, ref, service_url)
        try:
            personal = syntax.message(msg, in_channel=False)
            await self.connector.send(service_url, conversation_id, render_teams.activity(personal))
        except ConnectorError as exc:
            if exc.status in GONE:
                raise Unreachable(install_hint(person)) from exc
            raise

    async def _any_service_url(self, s: Any) -> str | None:
        return await latest_service_url(s) or self.default_service_url

    async def _open_personal(self, person: Person, ref: ConversationRef, service_url: str) -> str:
        """Create the bot's personal chat with someone seen only in a channel or a mention."""
        user = dict(ref.reference.get("user") or {})
        bot = dict(ref.reference.get("bot") or {})
        if not user.get("id"):
            raise Unreachable(install_hint(person))
        try:
            conversation_id = await self.connector.create_personal(
                service_url, tenant_id=ref.tenant_id, bot=bot, user=user
            )
        except ConnectorError as exc:
            if exc.status in GONE or exc.status == 400:
                raise Unreachable(install_hint(person)) from exc
            raise
        async with self.app.db.session() as s:
            fresh = await s.get(ConversationRef, ref.id)
            if fresh is not None:
                fresh.conversation_id = conversation_id
                fresh.reference = {
                    **fresh.reference,
                    "conversation": {"id": conversation_id, "conversationType": "personal"},
                }
                fresh.updated_at = datetime.now(UTC)
                s.add(fresh)
        return conversation_id
