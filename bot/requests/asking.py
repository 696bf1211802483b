"""Asking a colleague or a team: the request, its ladder, the colleague told, and the promise
rule checked at once (a deadline after what the promise allows is said straight away)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder, people_cache, predict
from bot.cases import get_case, parse_when, require_open
from bot.deadlines import words_after_by
from bot.directory import Rules, calendar_of, is_away, members, mention
from bot.errors import Refusal
from bot.messages import Action, Message, message, sentence
from bot.notices import record, tell, when_for
from bot.requests.absence import route_around_absence
from bot.requests.lookup import asked_people
from storage.db import insert_row
from storage.tables import Person, Request, Team


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
        raise Refusal(sentence("cmd_question_is_empty"))
    owner = await people_cache.by_id(session, case.owner_id)
    assert owner is not None and actor.id is not None
    routed_note: str | None = None
    assignee: Person | None = None
    team: Team | None = None
    if isinstance(target, Person):
        if target.id == actor.id:
            raise Refusal(sentence("cmd_ask_yourself"))
        assignee, routed_note = await route_around_absence(session, target, now)
        if assignee.id == actor.id:
            raise Refusal(sentence("cmd_routed_to_you", note=routed_note))
    else:
        team = target
        if not await members(session, team):
            raise Refusal(sentence("cmd_team_empty_ask", team=team.name))
    cal_owner = assignee or team
    cal = calendar_of(cal_owner, rules.calendar)
    default_when = rules.policy.default_deadlines[case.priority]
    deadline = parse_when(by or default_when, now=now, cal_of=cal_owner, rules=rules)
    req = await insert_row(
        session,
        Request,
        case_id=case.id or 0,
        asked_by_id=actor.id,
        assignee_id=assignee.id if assignee else None,
        team_id=team.id if team else None,
        question=question.strip(),
        opened_at=now,
        deadline=deadline,
        # being posted in the case's thread from now on, by this process once committed (a
        # claim on the wall clock: it expires should the process die before posting)
        posting_since=datetime.now(UTC) if case.thread else None,
    )
    target_name = assignee.name if assignee else (team.name if team else "?")
    record(
        session,
        case=case,
        request=req,
        kind="asked",
        at=now,
        actor=actor,
        text=sentence(
            "timeline_asked", request_key=req.key, target=target_name, question=req.question
        ),
        deadline=deadline.isoformat(),
        assignee_id=req.assignee_id,
        team_id=req.team_id,
    )
    if routed_note:
        record(session, case=case, request=req, kind="rerouted", at=now, text=routed_note)
    await ladder.schedule_request(session, req=req, cal=cal, policy=rules.policy, new=True)

    for person in await asked_people(session, req):
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
            team=sentence("cmd_for_the_team", team=team.name) if team else None,
            deadline=when_for(deadline, calendar_of(person, rules.calendar).tz, now=now),
        )

    actor_tz = calendar_of(actor, rules.calendar).tz
    replies = [
        message(
            "request_opened",
            case=case.key,
            request=req.key,
            request_key=req.key,
            target=mention(assignee) if assignee else sentence("cmd_the_team", team=target_name),
            question=req.question,
            deadline=when_for(deadline, actor_tz, now=now),
            their_time=sentence("cmd_their_time", deadline=when_for(deadline, cal.tz, now=now))
            if cal.tz != actor_tz
            else None,
            routed=sentence("cmd_routed_note", note=routed_note) if routed_note else None,
        )
    ]
    if by is None and (words := words_after_by(req.question)):
        replies.append(
            message(
                "dates_no_deadline_read",
                case=case.key,
                request=req.key,
                private=True,
                words=words,
                priority=case.priority,
                default=default_when,
                deadline=when_for(deadline, actor_tz, now=now),
            )
        )
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
            text=sentence("timeline_promise_rule", request_key=req.key),
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
                        sentence("action_shorten", when=when_for(latest, owner_cal.tz)),
                        value=latest.isoformat(),
                    ),
                    Action("update", case.key, sentence("action_draft_update")),
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
