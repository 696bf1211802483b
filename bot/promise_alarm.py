"""When a promise is threatened: the promise-at-risk step, and the honest new time the owner is
offered wherever a warning says so (that step, and a request's at-risk warning).

The offer names the earliest time the promise can still be kept (`bot.new_time`) and carries a
"Move the promise to …" button with that instant, so the owner who tells the customer a new time
tells them one computed from the work still open, not a guess.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.directory import Rules, calendar_of, manager_of, mention
from bot.messages import Action, sentence
from bot.new_time import honest_new_time
from bot.notices import record, tell, when_for
from storage.states import OPEN_REQUEST_STATES, CaseStatus, Step, TimerOutcome
from storage.tables import Case, Person, Request, Timer


async def new_time_offer(
    session: AsyncSession, *, case: Case, rules: Rules, now: datetime, tz: str, broken: bool = False
) -> tuple[str | None, tuple[Action, ...]]:
    """The sentence naming the honest new time and its button, when the promise is threatened
    (nothing when it can still be kept, or there is none)."""
    if case.promise_at is None or case.status != CaseStatus.OPEN:
        return None, ()
    found = await honest_new_time(session, case=case, rules=rules, now=now)
    if not found.threatened:
        return None, ()
    when = when_for(found.at, tz, now=now)
    text = sentence("new_time_broken" if broken else "new_time_named", when=when)
    button = Action(
        "promise", case.key, sentence("action_move_promise", when=when), value=found.at.isoformat()
    )
    return text, (button,)


async def promise_at_risk(
    session: AsyncSession, *, timer: Timer, case: Case, owner: Person, now: datetime, rules: Rules
) -> TimerOutcome:
    """Warn the owner (and their manager, while anything internal is still waiting) that the
    promise is about to break, or broke, with the honest new time to tell the customer."""
    if case.status != CaseStatus.OPEN or case.promise_kept or case.promise_at is None:
        return TimerOutcome.SKIPPED
    if timer.key != f"{case.key}:{Step.PROMISE_AT_RISK}:{case.promise_version}":
        return TimerOutcome.SKIPPED
    open_reqs = (
        await session.exec(
            select(Request).where(
                Request.case_id == case.id, col(Request.status).in_(OPEN_REQUEST_STATES)
            )
        )
    ).all()
    waiting = ", ".join(r.key for r in open_reqs) or sentence("cmd_nothing_internal")
    record(
        session,
        case=case,
        kind=f"step:{Step.PROMISE_AT_RISK}",
        at=now,
        text=sentence("timeline_promise_at_risk", promise=case.promise_at.isoformat()),
    )
    kind = "promise_broken" if now >= case.promise_at else "promise_at_risk"
    # With nothing internal waiting, only the owner can act: a reminder to them alone.
    alone = kind == "promise_at_risk" and not open_reqs
    manager = None if alone else await manager_of(session, owner)
    for person in [owner, *([manager] if manager else [])]:
        tz = calendar_of(person, rules.calendar).tz
        offer, button = await new_time_offer(
            session, case=case, rules=rules, now=now, tz=tz, broken=kind == "promise_broken"
        )
        tell(
            session,
            person,
            kind,
            at=now,
            case=case,
            actions=button if person is owner else (),
            customer=case.customer,
            owner=mention(owner),
            promise=when_for(case.promise_at, tz),
            waiting=waiting,
            new_time=offer,
        )
    return TimerOutcome.FIRED
