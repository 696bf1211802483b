"""How to reach a Teams user later: their stored conversation reference.

Proactive messages (requests, reminders, escalations) need a reference from an earlier activity.
A personal chat gives a full one; someone seen only in a channel or in a mention gets a partial
one (user and bot accounts) from which delivery can open a personal chat. When someone becomes
reachable, what could not reach them lately is queued again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ChannelAccount
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.teams.activities import PLATFORM, as_dict, is_personal, tenant_of
from storage.states import OutboxStatus
from storage.tables import ConversationRef, Outbox, Person

MISSED_WINDOW = timedelta(days=7)


async def reference_of(s: AsyncSession, person_id: int | None) -> ConversationRef | None:
    return (
        await s.exec(
            select(ConversationRef).where(
                ConversationRef.person_id == person_id, ConversationRef.platform == PLATFORM
            )
        )
    ).first()


async def remember(s: AsyncSession, person: Person, act: Activity, user: ChannelAccount) -> bool:
    """Store how to reach `person`; True when they just became reachable in a personal chat."""
    assert person.id is not None
    row = await reference_of(s, person.id)
    now = datetime.now(UTC)
    is_sender = act.from_property is not None and user.id == act.from_property.id
    if is_personal(act) and is_sender:
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
                    "user": as_dict(user),
                    "bot": as_dict(act.recipient),
                    "serviceUrl": act.service_url,
                    "channelId": act.channel_id,
                    "tenantId": tenant_of(act),
                },
                updated_at=now,
            )
        )
    return False


async def requeue_missed(s: AsyncSession, person: Person, now: datetime) -> int:
    """Messages that could not reach this person lately are sent now that they can be
    (lately by the clock that stamped them, simulated or not)."""
    since = now - MISSED_WINDOW
    rows = (
        await s.exec(
            select(Outbox).where(
                Outbox.person_id == person.id,
                col(Outbox.sent).is_(True),
                col(Outbox.status) == OutboxStatus.UNREACHABLE,
                col(Outbox.created_at) >= since,
            )
        )
    ).all()
    for row in rows:
        row.sent, row.error, row.attempts, row.claimed_until = False, None, 0, None
        row.status = OutboxStatus.PENDING
        s.add(row)
    return len(rows)


async def forget(s: AsyncSession, person: Person) -> None:
    """The app was removed from their personal chat: nothing proactive reaches them there."""
    for row in (
        await s.exec(
            select(ConversationRef).where(
                ConversationRef.person_id == person.id, ConversationRef.platform == PLATFORM
            )
        )
    ).all():
        await s.delete(row)


async def latest_service_url(s: AsyncSession) -> str | None:
    """The service URL Teams last called us from: where to reach a conversation we hold no
    reference of our own for (a case's channel thread, a person not yet reached)."""
    latest = (
        await s.exec(
            select(ConversationRef)
            .where(
                ConversationRef.platform == PLATFORM,
                col(ConversationRef.service_url).is_not(None),
            )
            .order_by(col(ConversationRef.updated_at).desc())
        )
    ).first()
    return latest.service_url if latest else None
