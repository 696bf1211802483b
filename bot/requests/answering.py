"""The asked side: acknowledging (optionally with an ETA) and answering a request."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder, people_cache
from bot.cases import parse_when
from bot.directory import Rules, calendar_of, mention
from bot.errors import Refusal
from bot.messages import Action, Message, message, sentence
from bot.notices import record, tell, when_for
from bot.predict import etas_slip
from bot.requests.lookup import claim, get_request, open_for
from storage.states import RequestStatus, Step, TimerOutcome
from storage.tables import Person


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
    case = await open_for(session, req, "acknowledge")
    claimed = claim(req, actor)
    eta_at = parse_when(eta, now=now, cal_of=actor, rules=rules) if eta else None
    if req.status == RequestStatus.ACKNOWLEDGED and eta_at is None:
        raise Refusal(sentence("cmd_already_acked", request_key=req.key))
    req.status = RequestStatus.ACKNOWLEDGED
    req.acked_at = req.acked_at or now
    req.eta = eta_at or req.eta
    session.add(req)
    owner = await people_cache.by_id(session, case.owner_id)
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
        text=sentence(
            "timeline_acknowledged",
            name=actor.name,
            request_key=req.key,
            eta=sentence("timeline_eta", eta=when_for(eta_at, owner_tz)) if eta_at else None,
            claimed=sentence("timeline_claimed") if claimed and req.team_id else None,
        ),
        eta=eta_at.isoformat() if eta_at else None,
    )
    if late:
        await ladder.bring_forward(session, req=req, step=Step.AT_RISK, at=now)
    elif eta_at is not None and not await etas_slip(session, actor):
        await ladder.hold_until(session, req=req, step=Step.AT_RISK, at=eta_at)
    tell(
        session,
        owner,
        "request_acked_owner",
        at=now,
        case=case,
        request=req,
        colleague=mention(actor),
        eta=sentence("cmd_eta", eta=when_for(eta_at, owner_tz)) if eta_at else None,
        late=sentence("cmd_eta_after_deadline" if late else "cmd_full_stop"),
    )
    actor_tz = calendar_of(actor, rules.calendar).tz
    return message(
        "request_acked",
        case=case.key,
        request=req.key,
        request_key=req.key,
        deadline=when_for(req.deadline, actor_tz),
        eta=sentence("cmd_your_eta", eta=when_for(eta_at, actor_tz)) if eta_at else None,
        actions=(
            Action("answer", req.key, sentence("action_answer")),
            Action("more_time", req.key, sentence("action_more_time")),
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
        raise Refusal(sentence("cmd_answer_is_empty"))
    req = await get_request(session, request_key, lock=True)
    case = await open_for(session, req, "answer")
    claim(req, actor)
    req.status = RequestStatus.ANSWERED
    req.answered_at = now
    req.answered_by_id = actor.id
    req.answer = text.strip()
    req.acked_at = req.acked_at or now
    session.add(req)
    await ladder.cancel_request_steps(session, req=req, outcome=TimerOutcome.ANSWERED)
    on_time = now <= req.deadline
    record(
        session,
        case=case,
        request=req,
        kind="answered",
        at=now,
        actor=actor,
        text=sentence("timeline_answered", name=actor.name, request_key=req.key, answer=req.answer),
        on_time=on_time,
    )
    owner = await people_cache.by_id(session, case.owner_id)
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
            late=None if on_time else sentence("cmd_after_its_deadline"),
        )
    return message(
        "request_answered",
        case=case.key,
        request=req.key,
        request_key=req.key,
        owner=mention(owner),
    )
