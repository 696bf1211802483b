"""Moving a request's deadline: its ladder re-planned, the asked told, the promise rule checked."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder, people_cache
from bot.business_time import format_when
from bot.cases import parse_when
from bot.directory import Rules, calendar_of
from bot.errors import Refusal
from bot.messages import Message, message, sentence
from bot.notices import record, tell, when_for
from bot.requests.lookup import asked_people, calendar_owner, get_request, still_open
from storage.tables import Case, Person, Request


async def move_deadline(
    session: AsyncSession,
    *,
    rules: Rules,
    req: Request,
    case: Case,
    actor: Person,
    new: datetime,
    now: datetime,
    why: str,
) -> bool:
    """Move the deadline and its pending steps; True if it now breaks the promise rule."""
    old = req.deadline
    req.deadline = new
    req.pending_deadline = None
    req.pending_reason = None
    session.add(req)
    cal = calendar_of(await calendar_owner(session, req), rules.calendar)
    await ladder.schedule_request(session, req=req, cal=cal, policy=rules.policy, now=now)
    record(
        session,
        case=case,
        request=req,
        kind="deadline_changed",
        at=now,
        actor=actor,
        text=sentence("timeline_deadline_moved", request_key=req.key, why=why),
        old=old.isoformat(),
        new=new.isoformat(),
    )
    for person in await asked_people(session, req):
        if person.id == actor.id:
            continue
        tell(
            session,
            person,
            "deadline_changed",
            at=now,
            case=case,
            request=req,
            deadline=when_for(new, calendar_of(person, rules.calendar).tz),
            why=why,
        )
    owner = await people_cache.by_id(session, case.owner_id)
    return ladder.breaks_promise(
        case=case,
        deadline=new,
        owner_cal=calendar_of(owner, rules.calendar),
        policy=rules.policy,
    )


async def set_deadline(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    request_key: str,
    when: str,
    at: datetime | None = None,
    now: datetime,
) -> Message:
    """Set the deadline to `when` (words, read in the calendar of whoever is asked) or to the
    instant `at` (from a button: used as it is, if it is still ahead)."""
    req = await get_request(session, request_key, lock=True)
    case = await still_open(session, req)
    cal_owner = await calendar_owner(session, req)
    if at is None:
        new = parse_when(when, now=now, cal_of=cal_owner, rules=rules)
    elif at <= now:
        tz = calendar_of(cal_owner, rules.calendar).tz
        raise Refusal(sentence("cmd_time_passed", when=f"{format_when(at, tz)} {tz}"))
    else:
        new = at
    breaks = await move_deadline(
        session,
        rules=rules,
        req=req,
        case=case,
        actor=actor,
        new=new,
        now=now,
        why=sentence("cmd_why_changed_by", name=actor.name),
    )
    tz = calendar_of(actor, rules.calendar).tz
    warn = sentence("cmd_deadline_too_close") if breaks else None
    return message(
        "deadline_set",
        case=case.key,
        request=req.key,
        request_key=req.key,
        deadline=when_for(new, tz),
        warning=warn,
    )
