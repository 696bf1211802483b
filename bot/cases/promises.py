"""The promise to the customer: recorded, moved, or kept; each move re-plans its ladder step.

A promise ends one of three ways. Kept: the case was resolved (or the promise marked kept) by it.
Renegotiated: it was moved before it passed, which is the owner telling the customer a new time
(the "Move the promise" button offers the honest one). Broken: it passed while the case was open,
whether it was then moved or the case resolved late. A case can hold several promises: its
outcome is that of its last one (`Case.promise_kept`), and its earlier ones are counted
(`promise_renegotiations`, `promise_breaks`) for the figures.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder
from bot.cases.lookup import get_case, owner_of, parse_when, require_open
from bot.directory import Rules, calendar_of
from bot.errors import Refusal
from bot.messages import Message, message, sentence
from bot.notices import record, record_customer_updated, when_for
from storage.states import OPEN_REQUEST_STATES, TimerOutcome
from storage.tables import Case, Person, Request


async def set_promise(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    case_key: str,
    when: str | None,
    what: str | None,
    kept: bool,
    now: datetime,
    at: datetime | None = None,
) -> Message:
    """Record, move or keep the promise. `at` is an instant ownit offered (the honest new time on
    a "move the promise" button), used as it is while it is still ahead."""
    case = await get_case(session, case_key, lock=True)
    owner = await owner_of(session, case)
    require_open(case)
    owner_cal = calendar_of(owner, rules.calendar)
    if kept:
        if case.promise_at is None:
            raise Refusal(sentence("cmd_no_promise_to_keep", case_key=case.key))
        case.promise_kept = now <= case.promise_at
        session.add(case)
        await ladder.cancel_promise_steps(session, case=case, outcome=TimerOutcome.KEPT)
        record(
            session,
            case=case,
            kind="promise_kept" if case.promise_kept else "promise_late",
            at=now,
            actor=actor,
            text=sentence(
                "timeline_promise_kept" if case.promise_kept else "timeline_promise_late"
            ),
        )
        return message(
            "promise_kept" if case.promise_kept else "promise_late",
            case=case.key,
            case_key=case.key,
            customer=case.customer,
        )
    offered = at is not None  # the time ownit offered (a button), not one typed
    if at is None:
        assert when is not None
        at = parse_when(when, now=now, cal_of=owner, rules=rules)
    elif at <= now:
        raise Refusal(sentence("cmd_time_passed", when=when_for(at, owner_cal.tz)))
    previous = case.promise_at
    outcome = _earlier_outcome(case, now=now)
    case.promise_at = at
    case.promise_text = what or case.promise_text
    case.promise_version += 1
    case.promise_kept = None
    session.add(case)
    await session.flush()
    record(
        session,
        case=case,
        kind="promised",
        at=now,
        actor=actor,
        text=sentence(
            "timeline_promised",
            promise=when_for(at, owner_cal.tz, now=now),
            what=sentence("timeline_note", note=what) if what else None,
            earlier=sentence(f"timeline_promise_{outcome}") if outcome else None,
        ),
        promise_at=at.isoformat(),
        previous=previous.isoformat() if previous else None,
        previous_outcome=outcome,
        offered=offered,
    )
    if previous is not None:  # a promise moved is a promise the customer was told of
        record_customer_updated(
            session,
            case=case,
            actor=actor,
            at=now,
            note=sentence("timeline_told_new_promise", promise=when_for(at, owner_cal.tz)),
            promise_at=at.isoformat(),
        )
    await ladder.schedule_promise(
        session, case=case, owner_cal=owner_cal, policy=rules.policy, now=now
    )
    late = [
        r
        for r in (
            await session.exec(
                select(Request).where(
                    Request.case_id == case.id, col(Request.status).in_(OPEN_REQUEST_STATES)
                )
            )
        ).all()
        if ladder.breaks_promise(
            case=case, deadline=r.deadline, owner_cal=owner_cal, policy=rules.policy
        )
    ]
    warning = ""
    if late:
        warning = sentence("cmd_promise_too_close", requests=", ".join(r.key for r in late))
    return message(
        "promise_set",
        case=case.key,
        case_key=case.key,
        customer=case.customer,
        promise=when_for(at, owner_cal.tz, now=now),
        earlier=sentence(
            f"cmd_promise_{outcome}",
            previous=when_for(previous, owner_cal.tz, now=now),
            count=case.promise_renegotiations,
        )
        if outcome and previous
        else None,
        warning=warning,
    )


def _earlier_outcome(case: Case, *, now: datetime) -> str | None:
    """What becomes of the promise being replaced, counted on the case: renegotiated (moved
    before it passed) or broken (moved once it had passed, or already found late); None when
    there was none, or it was kept."""
    if case.promise_at is None or case.promise_kept:
        return None
    if case.promise_kept is False or now >= case.promise_at:
        case.promise_breaks += 1
        return "broken"
    case.promise_renegotiations += 1
    return "renegotiated"
