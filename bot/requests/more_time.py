"""Asking for more time, and the owner's side accepting or declining it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder, people_cache
from bot.cases import parse_when
from bot.directory import Rules, calendar_of, mention
from bot.errors import Refusal
from bot.messages import Action, Message, message, sentence
from bot.notices import record, tell, when_for
from bot.requests.lookup import (
    asked_people,
    claim,
    get_request,
    open_for,
    still_open,
)
from bot.requests.rescheduling import move_deadline
from storage.tables import Person


async def more_time(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    request_key: str,
    when: str,
    reason: str,
    now: datetime,
) -> Message:
    req = await get_request(session, request_key, lock=True)
    case = await open_for(session, req, "ask more time for")
    if not reason.strip():
        raise Refusal(sentence("cmd_more_time_why"))
    new = parse_when(when, now=now, cal_of=actor, rules=rules)
    if new <= req.deadline:
        due = when_for(req.deadline, calendar_of(actor, rules.calendar).tz, now=now)
        raise Refusal(sentence("cmd_more_time_not_later", request_key=req.key, due=due))
    claim(req, actor)
    req.pending_deadline = new
    req.pending_reason = reason.strip()
    session.add(req)
    owner = await people_cache.by_id(session, case.owner_id)
    assert owner is not None
    owner_cal = calendar_of(owner, rules.calendar)
    record(
        session,
        case=case,
        request=req,
        kind="more_time_asked",
        at=now,
        actor=actor,
        text=sentence(
            "timeline_more_time_asked",
            name=actor.name,
            request_key=req.key,
            new=when_for(new, owner_cal.tz, now=now),
            reason=reason,
        ),
        deadline=new.isoformat(),
    )
    breaks = ladder.breaks_promise(
        case=case, deadline=new, owner_cal=owner_cal, policy=rules.policy
    )
    tell(
        session,
        owner,
        "more_time_owner",
        at=now,
        case=case,
        request=req,
        colleague=mention(actor),
        new=when_for(new, owner_cal.tz, now=now),
        old=when_for(req.deadline, owner_cal.tz, now=now),
        reason=reason.strip(),
        promise_warning=sentence(
            "cmd_more_time_past_promise", promise=when_for(case.promise_at, owner_cal.tz, now=now)
        )
        if breaks and case.promise_at
        else None,
        actions=(
            Action("accept", req.key, sentence("action_accept")),
            Action("decline", req.key, sentence("action_decline")),
        ),
    )
    return message(
        "more_time_asked",
        case=case.key,
        request=req.key,
        request_key=req.key,
        owner=mention(owner),
        new=when_for(new, calendar_of(actor, rules.calendar).tz, now=now),
    )


async def decide(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    request_key: str,
    accept: bool,
    note: str | None,
    now: datetime,
) -> Message:
    req = await get_request(session, request_key, lock=True)
    case = await still_open(session, req)
    if req.pending_deadline is None:
        raise Refusal(sentence("cmd_no_more_time_asked", request_key=req.key))
    tz = calendar_of(actor, rules.calendar).tz
    if accept:
        new = req.pending_deadline
        breaks = await move_deadline(
            session,
            rules=rules,
            req=req,
            case=case,
            actor=actor,
            new=new,
            now=now,
            why=sentence("cmd_why_more_time_accepted"),
        )
        warn = sentence("cmd_more_time_too_close", case_key=case.key) if breaks else None
        return message(
            "more_time_accepted",
            case=case.key,
            request=req.key,
            request_key=req.key,
            deadline=when_for(new, tz, now=now),
            warning=warn,
        )
    req.pending_deadline = None
    req.pending_reason = None
    session.add(req)
    record(
        session,
        case=case,
        request=req,
        kind="more_time_declined",
        at=now,
        actor=actor,
        text=sentence(
            "timeline_more_time_declined",
            request_key=req.key,
            note=sentence("timeline_note", note=note) if note else None,
        ),
    )
    for person in await asked_people(session, req):
        tell(
            session,
            person,
            "more_time_declined_colleague",
            at=now,
            case=case,
            request=req,
            owner=mention(actor),
            note=sentence("cmd_note", note=note) if note else sentence("cmd_full_stop"),
            deadline=when_for(req.deadline, calendar_of(person, rules.calendar).tz, now=now),
            actions=ladder.colleague_actions(req),
        )
    return message(
        "more_time_declined",
        case=case.key,
        request=req.key,
        request_key=req.key,
        deadline=when_for(req.deadline, tz, now=now),
    )
