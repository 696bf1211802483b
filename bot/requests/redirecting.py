"""Handing a request on to someone better placed, with a reason; counted as a handoff."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder
from bot.directory import Rules, calendar_of, members, mention
from bot.errors import Refusal
from bot.messages import Message, message, sentence
from bot.notices import record, tell, when_for
from bot.requests.absence import route_around_absence
from bot.requests.lookup import asked_people, get_request, open_for
from storage.states import RequestStatus
from storage.tables import Person, Team


async def redirect(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    request_key: str,
    to: Person | Team,
    reason: str,
    now: datetime,
) -> Message:
    req = await get_request(session, request_key, lock=True)
    case = await open_for(session, req, "redirect")
    if not reason.strip():
        raise Refusal(sentence("cmd_redirect_why"))
    before = await asked_people(session, req)
    if any(p.id == actor.id for p in before):
        before = []  # the asked hand it on themselves; only a manager's redirect is news to them
    routed_note = None
    if isinstance(to, Person):
        if to.id == actor.id and not before:  # a manager naming themselves takes it on
            raise Refusal(sentence("cmd_redirect_to_self"))
        new_person, routed_note = await route_around_absence(session, to, now)
        req.assignee_id, req.team_id = new_person.id, None
        target_name = new_person.name
    else:
        if not await members(session, to):
            raise Refusal(sentence("cmd_team_empty", team=to.name))
        req.assignee_id, req.team_id = None, to.id
        target_name = sentence("cmd_the_team", team=to.name)
    req.status = RequestStatus.OPEN
    req.acked_at = None
    req.eta = None
    req.redirects += 1
    case.handoffs += 1
    session.add(req)
    session.add(case)
    record(
        session,
        case=case,
        request=req,
        kind="redirected",
        at=now,
        actor=actor,
        text=sentence(
            "timeline_redirected",
            name=actor.name,
            request_key=req.key,
            target=target_name,
            reason=reason,
            routed=sentence("timeline_routed", note=routed_note) if routed_note else None,
        ),
    )
    owner = await session.get(Person, case.owner_id)
    assert owner is not None
    for person in await asked_people(session, req):
        tell(
            session,
            person,
            "request_redirected_to_you",
            at=now,
            case=case,
            request=req,
            actions=ladder.colleague_actions(req),
            by=mention(actor),
            owner=mention(owner),
            customer=case.customer,
            question=req.question,
            reason=reason,
            deadline=when_for(req.deadline, calendar_of(person, rules.calendar).tz),
        )
    now_asked = {p.id for p in await asked_people(session, req)}
    for person in before:  # a manager redirected it: whoever had it hears it has moved on
        if person.id not in now_asked:
            tell(
                session,
                person,
                "request_redirected_from_you",
                at=now,
                case=case,
                request=req,
                by=mention(actor),
                customer=case.customer,
                to=target_name,
                reason=reason,
            )
    tell(
        session,
        owner,
        "request_redirected_owner",
        at=now,
        case=case,
        request=req,
        by=mention(actor),
        to=target_name,
        reason=reason,
    )
    return message(
        "request_redirected", case=case.key, request=req.key, request_key=req.key, to=target_name
    )
