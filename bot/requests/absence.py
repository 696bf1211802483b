"""Being away: marking oneself away with a backup, and routing a request around someone away
(to their backup, or else to their manager)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import people_cache
from bot.cases import parse_when
from bot.directory import Rules, calendar_of, is_away, manager_of, mention
from bot.errors import Refusal
from bot.messages import Message, message, sentence
from bot.notices import when_for
from storage.tables import Person


async def route_around_absence(
    session: AsyncSession, person: Person, now: datetime
) -> tuple[Person, str | None]:
    """Who actually gets a request meant for `person`, and why it changed (None if it didn't)."""
    if not is_away(person, now):
        return person, None
    seen = {person.id}
    backup = await people_cache.by_id(session, person.backup_id) if person.backup_id else None
    if backup is not None and backup.id not in seen and not is_away(backup, now):
        return backup, sentence("cmd_routed_to_backup", person=person.name, backup=backup.name)
    manager = await manager_of(session, person)
    if manager is not None and not is_away(manager, now):
        return manager, sentence("cmd_routed_to_manager", person=person.name, manager=manager.name)
    raise Refusal(sentence("cmd_away_no_cover", handle=person.handle))


async def set_away(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    until: str | None,
    backup: Person | None,
    now: datetime,
) -> Message:
    tz = calendar_of(actor, rules.calendar).tz
    if until is None:
        actor.away_until = None
        session.add(actor)
        return message("back", private=True)
    at = parse_when(until, now=now, cal_of=actor, rules=rules)
    if backup is not None:
        if backup.id == actor.id:
            raise Refusal(sentence("cmd_own_backup"))
        actor.backup_id = backup.id
    actor.away_until = at
    session.add(actor)
    fallback = await people_cache.by_id(session, actor.backup_id) if actor.backup_id else None
    if fallback is None:
        fallback = await manager_of(session, actor)
    return message(
        "away",
        private=True,
        until=when_for(at, tz, now=now),
        cover=mention(fallback) if fallback else sentence("cmd_no_cover"),
    )
