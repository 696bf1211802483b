"""Handing a case to a new owner: counted as a handoff, both owners told."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder
from bot.cases.lookup import get_case, owner_of, require_open
from bot.directory import Rules, calendar_of, is_away, mention
from bot.errors import Refusal
from bot.messages import Message, message, sentence
from bot.notices import record, tell, when_for
from storage.tables import Person


async def transfer(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    case_key: str,
    to: Person,
    reason: str,
    now: datetime,
) -> Message:
    case = await get_case(session, case_key, lock=True)
    old = await owner_of(session, case)
    require_open(case)
    if to.id == case.owner_id:
        raise Refusal(sentence("cmd_already_owner", handle=to.handle, case_key=case.key))
    if is_away(to, now):
        until = when_for(to.away_until, calendar_of(actor, rules.calendar).tz)
        raise Refusal(sentence("cmd_owner_away", handle=to.handle, until=until))
    assert to.id is not None
    case.owner_id = to.id
    case.handoffs += 1
    session.add(case)
    record(
        session,
        case=case,
        kind="transferred",
        at=now,
        actor=actor,
        text=sentence("timeline_transferred", old=old.name, new=to.name, reason=reason),
        from_id=old.id,
        to_id=to.id,
    )
    await ladder.schedule_promise(
        session, case=case, owner_cal=calendar_of(to, rules.calendar), policy=rules.policy, now=now
    )
    tell(
        session,
        to,
        "case_transferred_to_you",
        at=now,
        case=case,
        customer=case.customer,
        summary=case.summary,
        by=mention(actor),
        reason=reason,
        promise=when_for(case.promise_at, calendar_of(to, rules.calendar).tz)
        if case.promise_at
        else sentence("cmd_none"),
    )
    if old.id != actor.id:
        tell(
            session,
            old,
            "case_transferred_away",
            at=now,
            case=case,
            to=mention(to),
            reason=reason,
        )
    return message(
        "case_transferred", case=case.key, case_key=case.key, to=mention(to), handoffs=case.handoffs
    )
