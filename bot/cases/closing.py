"""The end of a case and after: resolve (open requests cancelled), reopen, the customer's rating."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder, people_cache
from bot.cases.lookup import get_case, owner_of, require_open
from bot.directory import Rules, calendar_of
from bot.errors import Refusal
from bot.messages import Action, Message, message, sentence
from bot.notices import record, tell
from storage.states import OPEN_REQUEST_STATES, CaseStatus, RequestStatus, TimerOutcome
from storage.tables import Person, Request


async def resolve(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    case_key: str,
    note: str | None,
    now: datetime,
) -> Message:
    case = await get_case(session, case_key, lock=True)
    require_open(case)
    case.status = CaseStatus.RESOLVED
    case.resolved_at = now
    if case.promise_at is not None and case.promise_kept is None:
        case.promise_kept = now <= case.promise_at
    session.add(case)
    await ladder.cancel_promise_steps(session, case=case, outcome=TimerOutcome.RESOLVED)
    open_reqs = (
        await session.exec(
            select(Request).where(
                Request.case_id == case.id, col(Request.status).in_(OPEN_REQUEST_STATES)
            )
        )
    ).all()
    for req in open_reqs:
        req.status = RequestStatus.CANCELLED
        session.add(req)
        await ladder.cancel_request_steps(session, req=req, outcome=TimerOutcome.CANCELLED)
        record(
            session,
            case=case,
            request=req,
            kind="cancelled",
            at=now,
            actor=actor,
            text=sentence("timeline_cancelled", request_key=req.key),
        )
        for person_id in {req.assignee_id} - {None}:
            person = await people_cache.by_id(session, person_id)
            if person:
                tell(
                    session,
                    person,
                    "request_cancelled",
                    at=now,
                    case=case,
                    request=req,
                )
    record(
        session,
        case=case,
        kind="resolved",
        at=now,
        actor=actor,
        text=sentence("timeline_resolved", note=_note(note)),
        promise_kept=case.promise_kept,
    )
    kept = {True: "cmd_promise_was_kept", False: "cmd_promise_missed", None: "cmd_no_promise"}
    return message(
        "case_resolved",
        case=case.key,
        case_key=case.key,
        customer=case.customer,
        kept=sentence(kept[case.promise_kept]),
        actions=(Action("rate", case.key, sentence("action_rate")),),
    )


def _note(note: str | None) -> str | None:
    """A note after a timeline line (`: …`), or nothing."""
    return sentence("timeline_note", note=note) if note else None


async def reopen(
    *, session: AsyncSession, rules: Rules, actor: Person, case_key: str, now: datetime
) -> Message:
    case = await get_case(session, case_key, lock=True)
    owner = await owner_of(session, case)
    if case.status == CaseStatus.OPEN:
        raise Refusal(sentence("cmd_already_open", case_key=case.key))
    case.status = CaseStatus.OPEN
    case.resolved_at = None
    if case.promise_at and case.promise_at > now:
        case.promise_kept = None
    session.add(case)
    record(
        session, case=case, kind="reopened", at=now, actor=actor, text=sentence("timeline_reopened")
    )
    await ladder.schedule_promise(
        session,
        case=case,
        owner_cal=calendar_of(owner, rules.calendar),
        policy=rules.policy,
        now=now,
    )
    return message("case_reopened", case=case.key, case_key=case.key, customer=case.customer)


async def rate(
    *,
    session: AsyncSession,
    actor: Person,
    case_key: str,
    score: int,
    comment: str | None,
    now: datetime,
) -> Message:
    case = await get_case(session, case_key, lock=True)
    if not 1 <= score <= 5:
        raise Refusal(sentence("cmd_rating_range"))
    case.csat = score
    case.csat_comment = comment
    session.add(case)
    record(
        session,
        case=case,
        kind="rated",
        at=now,
        actor=actor,
        text=sentence("timeline_rated", score=score, comment=_note(comment)),
        score=score,
    )
    return message("case_rated", case=case.key, case_key=case.key, score=score)
