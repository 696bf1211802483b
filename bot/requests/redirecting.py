"""Handing a request on to someone better placed, with a reason; counted as a handoff."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder, people_cache
from bot.business_time import Calendar
from bot.directory import Rules, calendar_of, members, mention
from bot.errors import Refusal
from bot.messages import Message, message, sentence
from bot.notices import record, tell, when_for
from bot.requests.absence import route_around_absence
from bot.requests.lookup import asked_people, calendar_owner, get_request, open_for
from storage.states import RequestStatus
from storage.tables import Case, Person, Request, Team


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
    was = calendar_of(await calendar_owner(session, req), rules.calendar)
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
    moved = await _rearm(session, rules=rules, req=req, case=case, actor=actor, was=was, now=now)
    owner = await people_cache.by_id(session, case.owner_id)
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
        moved=_moved(moved, target_name, calendar_of(owner, rules.calendar).tz, "_owner"),
    )
    return message(
        "request_redirected",
        case=case.key,
        request=req.key,
        request_key=req.key,
        to=target_name,
        moved=_moved(moved, target_name, calendar_of(actor, rules.calendar).tz),
    )


async def _rearm(
    session: AsyncSession,
    *,
    rules: Rules,
    req: Request,
    case: Case,
    actor: Person,
    was: Calendar,
    now: datetime,
) -> datetime | None:
    """The new holder's own ladder, from now to the deadline it carries over. A deadline already
    past would leave them nothing to follow: it moves as far ahead as the request was first given
    (in their business time), and the new deadline is returned."""
    cal = calendar_of(await calendar_owner(session, req), rules.calendar)
    moved = None
    if req.deadline <= now:
        old = req.deadline
        req.deadline = moved = ladder.fresh_deadline(req, now=now, was=was, cal=cal)
        session.add(req)
        record(
            session,
            case=case,
            request=req,
            kind="deadline_changed",
            at=now,
            actor=actor,
            text=sentence(
                "timeline_deadline_moved",
                request_key=req.key,
                why=sentence("cmd_why_redirected_late"),
            ),
            old=old.isoformat(),
            new=moved.isoformat(),
        )
    await ladder.schedule_request(
        session, req=req, cal=cal, policy=rules.policy, now=now, since=now
    )
    return moved


def _moved(moved: datetime | None, to: str, tz: str, whose: str = "") -> str | None:
    """The note that the deadline moved with the redirect, for the actor or (`_owner`) the owner."""
    if moved is None:
        return None
    return sentence(f"cmd_redirect_moved{whose}", to=to, deadline=when_for(moved, tz))
