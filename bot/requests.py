"""Requests: ask a colleague or a team, acknowledge, answer, ask for more time, redirect.

A request runs on the asked colleague's own calendar. Whoever is away is routed around: to their
backup, or else to their manager, and the owner is told.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder, predict
from bot.cases import get_case, may_manage_case, parse_key, parse_when, require_open
from bot.directory import (
    Rules,
    calendar_of,
    is_away,
    is_member,
    manager_of,
    members,
    mention,
)
from bot.errors import NotAllowed, NotFound, Refusal
from bot.messages import Action, Message, message
from bot.notices import record, tell, when_for
from storage.tables import Case, Person, Request, Team


async def get_request(session: AsyncSession, key: str, *, lock: bool = False) -> Request:
    req = await session.get(Request, parse_key(key, "R"), with_for_update=lock)
    if req is None:
        raise NotFound(f"There is no request {key}.")
    return req


async def route_around_absence(
    session: AsyncSession, person: Person, now: datetime
) -> tuple[Person, str | None]:
    """Who actually gets a request meant for `person`, and why it changed (None if it didn't)."""
    if not is_away(person, now):
        return person, None
    seen = {person.id}
    backup = await session.get(Person, person.backup_id) if person.backup_id else None
    if backup is not None and backup.id not in seen and not is_away(backup, now):
        return backup, f"{person.name} is away; their backup {backup.name} has it"
    manager = await manager_of(session, person)
    if manager is not None and not is_away(manager, now):
        return manager, f"{person.name} is away; their manager {manager.name} has it"
    raise Refusal(
        f"@{person.handle} is away and has no backup or manager available. Ask someone else."
    )


async def _asked(session: AsyncSession, req: Request) -> Person | Team | None:
    """Whose calendar the request runs on: its assignee, or the team it waits on."""
    if req.assignee_id is not None:
        return await session.get(Person, req.assignee_id)
    return await session.get(Team, req.team_id) if req.team_id is not None else None


async def _target_people(session: AsyncSession, req: Request) -> list[Person]:
    if req.assignee_id is not None:
        p = await session.get(Person, req.assignee_id)
        return [p] if p else []
    if req.team_id is not None:
        team = await session.get(Team, req.team_id)
        return [m for m in await members(session, team)] if team else []
    return []


async def _may_answer(session: AsyncSession, actor: Person, req: Request) -> bool:
    if req.assignee_id == actor.id:
        return True
    if req.assignee_id is None and req.team_id is not None:
        assert actor.id is not None
        return await is_member(session, req.team_id, actor.id)
    return False


async def _require_colleague(session: AsyncSession, actor: Person, req: Request, verb: str) -> Case:
    case = await session.get(Case, req.case_id)
    assert case is not None
    if req.status not in ladder.OPEN_STATES:
        raise Refusal(f"{req.key} is {req.status}; there is nothing to {verb}.")
    if not await _may_answer(session, actor, req):
        who = await _asked_name(session, req)
        raise NotAllowed(f"{req.key} was asked of {who}; only they can {verb} it.")
    return case


async def _asked_name(session: AsyncSession, req: Request) -> str:
    if req.assignee_id is not None:
        p = await session.get(Person, req.assignee_id)
        return f"@{p.handle}" if p else "someone else"
    team = await session.get(Team, req.team_id) if req.team_id else None
    return f"the {team.name} team" if team else "someone else"


def _claim(req: Request, actor: Person) -> bool:
    """A team request belongs to its first responder."""
    if req.assignee_id is None:
        req.assignee_id = actor.id
        return True
    return False


async def ask(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    case_key: str,
    target: Person | Team,
    question: str,
    by: str | None,
    now: datetime,
) -> list[Message]:
    case = await get_case(session, case_key, lock=True)
    require_open(case)
    if not question.strip():
        raise Refusal("The question is empty: say what you need from them.")
    owner = await session.get(Person, case.owner_id)
    assert owner is not None and actor.id is not None
    routed_note: str | None = None
    assignee: Person | None = None
    team: Team | None = None
    if isinstance(target, Person):
        if target.id == actor.id:
            raise Refusal("You can't ask yourself; name a colleague or a team.")
        assignee, routed_note = await route_around_absence(session, target, now)
        if assignee.id == actor.id:
            raise Refusal(f"{routed_note}, which is you. Ask someone else.")
    else:
        team = target
        if not await members(session, team):
            raise Refusal(f"The {team.name} team has no members yet; ask a person instead.")
    cal_owner = assignee or team
    cal = calendar_of(cal_owner, rules.calendar)
    default_when = rules.policy.default_deadlines[case.priority]
    deadline = parse_when(by or default_when, now=now, cal_of=cal_owner, rules=rules)
    req = Request(
        case_id=case.id or 0,
        asked_by_id=actor.id,
        assignee_id=assignee.id if assignee else None,
        team_id=team.id if team else None,
        question=question.strip(),
        opened_at=now,
        deadline=deadline,
    )
    session.add(req)
    await session.flush()
    target_name = assignee.name if assignee else (team.name if team else "?")
    record(
        session,
        case=case,
        request=req,
        kind="asked",
        at=now,
        actor=actor,
        text=f"{req.key} asked of {target_name}: {req.question}",
        deadline=deadline.isoformat(),
        assignee_id=req.assignee_id,
        team_id=req.team_id,
    )
    if routed_note:
        record(session, case=case, request=req, kind="rerouted", at=now, text=routed_note)
    await ladder.schedule_request(session, req=req, cal=cal, policy=rules.policy, new=True)

    for person in await _target_people(session, req):
        if person.id == actor.id or (team and is_away(person, now)):
            continue
        tell(
            session,
            person,
            "request_new",
            at=now,
            case=case,
            request=req,
            actions=ladder.colleague_actions(req),
            owner=mention(actor),
            customer=case.customer,
            question=req.question,
            team=f" (for the {team.name} team)" if team else "",
            deadline=when_for(deadline, calendar_of(person, rules.calendar).tz),
        )

    actor_tz = calendar_of(actor, rules.calendar).tz
    replies = [
        message(
            "request_opened",
            case=case.key,
            request=req.key,
            request_key=req.key,
            target=mention(assignee) if assignee else f"the {target_name} team",
            question=req.question,
            deadline=when_for(deadline, actor_tz),
            their_time=f" ({when_for(deadline, cal.tz)} their time)" if cal.tz != actor_tz else "",
            routed=f" Note: {routed_note}." if routed_note else "",
        )
    ]
    if routed_note and owner.id != actor.id:
        tell(
            session,
            owner,
            "request_rerouted",
            at=now,
            case=case,
            request=req,
            note=routed_note,
        )
    owner_cal = calendar_of(owner, rules.calendar)
    if ladder.breaks_promise(
        case=case, deadline=deadline, owner_cal=owner_cal, policy=rules.policy
    ):
        assert case.promise_at is not None
        latest = ladder.latest_before(owner_cal, case.promise_at, rules.policy.buffer, now)
        record(
            session,
            case=case,
            request=req,
            kind="promise_rule",
            at=now,
            text=f"{req.key} is due after the promise allows",
        )
        replies.append(
            message(
                "promise_rule",
                case=case.key,
                request=req.key,
                private=True,
                actions=(
                    Action(
                        "shorten",
                        req.key,
                        f"Shorten to {when_for(latest, owner_cal.tz)}",
                        value=latest.isoformat(),
                    ),
                    Action("update", case.key, "Draft a customer update"),
                ),
                request_key=req.key,
                case_key=case.key,
                deadline=when_for(deadline, owner_cal.tz),
                promise=when_for(case.promise_at, owner_cal.tz),
                buffer=int(rules.policy.buffer.total_seconds() // 60),
                latest=when_for(latest, owner_cal.tz),
                latest_iso=latest.isoformat(),
            )
        )
    replies += await predict.warnings(
        session, target=assignee or target, case=case, request=req, cal=cal, now=now
    )
    return replies


async def acknowledge(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    request_key: str,
    eta: str | None,
    now: datetime,
) -> Message:
    req = await get_request(session, request_key, lock=True)
    case = await _require_colleague(session, actor, req, "acknowledge")
    claimed = _claim(req, actor)
    eta_at = parse_when(eta, now=now, cal_of=actor, rules=rules) if eta else None
    if req.status == "acknowledged" and eta_at is None:
        raise Refusal(f"You already acknowledged {req.key}. Add an ETA with `eta <when>`.")
    req.status = "acknowledged"
    req.acked_at = req.acked_at or now
    req.eta = eta_at or req.eta
    session.add(req)
    owner = await session.get(Person, case.owner_id)
    assert owner is not None
    owner_tz = calendar_of(owner, rules.calendar).tz
    late = eta_at is not None and eta_at > req.deadline
    record(
        session,
        case=case,
        request=req,
        kind="acknowledged",
        at=now,
        actor=actor,
        text=f"{actor.name} acknowledged {req.key}"
        + (f", ETA {when_for(eta_at, owner_tz)}" if eta_at else "")
        + (" (claimed for the team)" if claimed and req.team_id else ""),
        eta=eta_at.isoformat() if eta_at else None,
    )
    if late:
        await ladder.bring_forward(session, req=req, step="at_risk", at=now)
    tell(
        session,
        owner,
        "request_acked_owner",
        at=now,
        case=case,
        request=req,
        colleague=mention(actor),
        eta=f", ETA {when_for(eta_at, owner_tz)}" if eta_at else "",
        late=" — that is after the deadline, so it is at risk now." if late else ".",
    )
    actor_tz = calendar_of(actor, rules.calendar).tz
    return message(
        "request_acked",
        case=case.key,
        request=req.key,
        request_key=req.key,
        deadline=when_for(req.deadline, actor_tz),
        eta=f" Your ETA: {when_for(eta_at, actor_tz)}." if eta_at else "",
        actions=(
            Action("answer", req.key, "Answer"),
            Action("more_time", req.key, "Need more time"),
        ),
    )


async def answer(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    request_key: str,
    text: str,
    now: datetime,
) -> Message:
    if not text.strip():
        raise Refusal("The answer is empty.")
    req = await get_request(session, request_key, lock=True)
    case = await _require_colleague(session, actor, req, "answer")
    _claim(req, actor)
    req.status = "answered"
    req.answered_at = now
    req.answered_by_id = actor.id
    req.answer = text.strip()
    req.acked_at = req.acked_at or now
    session.add(req)
    await ladder.cancel_request_steps(session, req=req, outcome="answered")
    on_time = now <= req.deadline
    record(
        session,
        case=case,
        request=req,
        kind="answered",
        at=now,
        actor=actor,
        text=f"{actor.name} answered {req.key}: {req.answer}",
        on_time=on_time,
    )
    owner = await session.get(Person, case.owner_id)
    assert owner is not None
    if owner.id != actor.id:
        tell(
            session,
            owner,
            "request_answered_owner",
            at=now,
            case=case,
            request=req,
            colleague=mention(actor),
            customer=case.customer,
            answer=req.answer,
            late="" if on_time else " (after its deadline)",
        )
    return message(
        "request_answered",
        case=case.key,
        request=req.key,
        request_key=req.key,
        owner=mention(owner),
    )


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
    case = await _require_colleague(session, actor, req, "ask more time for")
    if not reason.strip():
        raise Refusal("Say why you need more time.")
    new = parse_when(when, now=now, cal_of=actor, rules=rules)
    if new <= req.deadline:
        raise Refusal(
            f"{req.key} is already due "
            f"{when_for(req.deadline, calendar_of(actor, rules.calendar).tz)};"
            " ask for a later time, or just acknowledge it."
        )
    _claim(req, actor)
    req.pending_deadline = new
    req.pending_reason = reason.strip()
    session.add(req)
    owner = await session.get(Person, case.owner_id)
    assert owner is not None
    owner_cal = calendar_of(owner, rules.calendar)
    record(
        session,
        case=case,
        request=req,
        kind="more_time_asked",
        at=now,
        actor=actor,
        text=f"{actor.name} asked to move {req.key} to {when_for(new, owner_cal.tz)}: {reason}",
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
        new=when_for(new, owner_cal.tz),
        old=when_for(req.deadline, owner_cal.tz),
        reason=reason.strip(),
        promise_warning=(
            " That is past what your promise to the customer allows ("
            f"{when_for(case.promise_at, owner_cal.tz)}); if you accept, update the "
            "customer."
        )
        if breaks and case.promise_at
        else "",
        actions=(Action("accept", req.key, "Accept"), Action("decline", req.key, "Decline")),
    )
    return message(
        "more_time_asked",
        case=case.key,
        request=req.key,
        request_key=req.key,
        owner=mention(owner),
        new=when_for(new, calendar_of(actor, rules.calendar).tz),
    )


async def _require_owner_side(session: AsyncSession, actor: Person, req: Request) -> Case:
    case = await session.get(Case, req.case_id)
    assert case is not None
    if not (req.asked_by_id == actor.id or await may_manage_case(session, actor, case)):
        raise NotAllowed(f"Only the owner of {case.key} or whoever asked {req.key} can do that.")
    if req.status not in ladder.OPEN_STATES:
        raise Refusal(f"{req.key} is {req.status}.")
    return case


async def _move_deadline(
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
    cal = calendar_of(await _asked(session, req), rules.calendar)
    await ladder.schedule_request(session, req=req, cal=cal, policy=rules.policy)
    record(
        session,
        case=case,
        request=req,
        kind="deadline_changed",
        at=now,
        actor=actor,
        text=f"{req.key} deadline moved ({why})",
        old=old.isoformat(),
        new=new.isoformat(),
    )
    for person in await _target_people(session, req):
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
    owner = await session.get(Person, case.owner_id)
    return ladder.breaks_promise(
        case=case,
        deadline=new,
        owner_cal=calendar_of(owner, rules.calendar),
        policy=rules.policy,
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
    case = await _require_owner_side(session, actor, req)
    if req.pending_deadline is None:
        raise Refusal(f"Nobody asked for more time on {req.key}.")
    tz = calendar_of(actor, rules.calendar).tz
    if accept:
        new = req.pending_deadline
        breaks = await _move_deadline(
            session,
            rules=rules,
            req=req,
            case=case,
            actor=actor,
            new=new,
            now=now,
            why="more time accepted",
        )
        warn = ""
        if breaks:
            warn = (
                f" It now lands too close to your promise; update the customer with "
                f"`/case update {case.key}` or `/case promise {case.key} <when>`."
            )
        return message(
            "more_time_accepted",
            case=case.key,
            request=req.key,
            request_key=req.key,
            deadline=when_for(new, tz),
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
        text=f"more time on {req.key} declined" + (f": {note}" if note else ""),
    )
    for person in await _target_people(session, req):
        tell(
            session,
            person,
            "more_time_declined_colleague",
            at=now,
            case=case,
            request=req,
            owner=mention(actor),
            note=f": {note}" if note else ".",
            deadline=when_for(req.deadline, calendar_of(person, rules.calendar).tz),
            actions=ladder.colleague_actions(req),
        )
    return message(
        "more_time_declined",
        case=case.key,
        request=req.key,
        request_key=req.key,
        deadline=when_for(req.deadline, tz),
    )


async def set_deadline(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    request_key: str,
    when: str,
    now: datetime,
) -> Message:
    req = await get_request(session, request_key, lock=True)
    case = await _require_owner_side(session, actor, req)
    try:
        new = datetime.fromisoformat(when)
        if new.tzinfo is None or new <= now:
            raise ValueError
    except ValueError:
        new = parse_when(when, now=now, cal_of=await _asked(session, req), rules=rules)
    breaks = await _move_deadline(
        session,
        rules=rules,
        req=req,
        case=case,
        actor=actor,
        new=new,
        now=now,
        why=f"changed by {actor.name}",
    )
    tz = calendar_of(actor, rules.calendar).tz
    warn = " It still lands too close to your promise." if breaks else ""
    return message(
        "deadline_set",
        case=case.key,
        request=req.key,
        request_key=req.key,
        deadline=when_for(new, tz),
        warning=warn,
    )


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
    case = await _require_colleague(session, actor, req, "redirect")
    if not reason.strip():
        raise Refusal("Say why you are handing it on.")
    routed_note = None
    if isinstance(to, Person):
        if to.id == actor.id:
            raise Refusal("You already have it; name someone else.")
        new_person, routed_note = await route_around_absence(session, to, now)
        req.assignee_id, req.team_id = new_person.id, None
        target_name = new_person.name
    else:
        if not await members(session, to):
            raise Refusal(f"The {to.name} team has no members yet.")
        req.assignee_id, req.team_id = None, to.id
        target_name = f"the {to.name} team"
    req.status = "open"
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
        text=f"{actor.name} redirected {req.key} to {target_name}: {reason}"
        + (f" ({routed_note})" if routed_note else ""),
    )
    owner = await session.get(Person, case.owner_id)
    assert owner is not None
    for person in await _target_people(session, req):
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
            raise Refusal("Your backup must be someone else.")
        actor.backup_id = backup.id
    actor.away_until = at
    session.add(actor)
    fallback = await session.get(Person, actor.backup_id) if actor.backup_id else None
    if fallback is None:
        fallback = await manager_of(session, actor)
    return message(
        "away",
        private=True,
        until=when_for(at, tz),
        cover=mention(fallback) if fallback else "nobody — ask your manager to set one",
    )
