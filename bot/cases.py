"""Cases: open, promise, transfer, resolve, reopen, rate.

Each service takes keyword-only arguments, works inside the caller's transaction, and returns the
message for the person who asked; notices for others go to the outbox. A Refusal rolls it all back.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder
from bot.deadlines import DeadlineError, parse_deadline
from bot.directory import Rules, calendar_of, is_away, manages, mention
from bot.errors import NotAllowed, NotFound, Refusal
from bot.messages import Action, Message, message
from bot.notices import record, tell, when_for
from storage.tables import Case, Person, Request, Team

PRIORITIES = ("P1", "P2", "P3", "P4")


def parse_key(key: str, prefix: str) -> int:
    try:
        head, num = key.upper().split("-", 1)
        if head != prefix:
            raise ValueError
        return int(num)
    except ValueError:
        raise Refusal(f"{key} is not a {'case' if prefix == 'C' else 'request'} key.") from None


async def get_case(session: AsyncSession, key: str, *, lock: bool = False) -> Case:
    case = await session.get(Case, parse_key(key, "C"), with_for_update=lock)
    if case is None:
        raise NotFound(f"There is no case {key}.")
    return case


def parse_when(text: str, *, now: datetime, cal_of: Person | Team | None, rules: Rules) -> datetime:
    try:
        return parse_deadline(text, now=now, calendar=calendar_of(cal_of, rules.calendar))
    except DeadlineError as exc:
        raise Refusal(str(exc)) from None


async def may_manage_case(session: AsyncSession, actor: Person, case: Case) -> bool:
    """The owner, anyone above the owner, or an admin."""
    if actor.id == case.owner_id or actor.is_admin:
        return True
    owner = await session.get(Person, case.owner_id)
    return owner is not None and await manages(session, actor, owner)


async def require_case_manager(
    session: AsyncSession, actor: Person, case: Case, verb: str
) -> Person:
    owner = await session.get(Person, case.owner_id)
    assert owner is not None
    if not await may_manage_case(session, actor, case):
        raise NotAllowed(
            f"Only the owner of {case.key} (@{owner.handle}), their manager or an admin "
            f"can {verb} it."
        )
    return owner


def require_open(case: Case) -> None:
    if case.status != "open":
        raise Refusal(
            f"{case.key} is {case.status}; reopen it first with `/case reopen {case.key}`."
        )


async def open_case(
    *,
    session: AsyncSession,
    rules: Rules,
    owner: Person,
    customer: str,
    summary: str,
    promise: str | None,
    priority: str | None,
    now: datetime,
    promise_text: str | None = None,
    category: str | None = None,
) -> tuple[Case, Message]:
    prio = (priority or "P3").upper()
    if prio not in PRIORITIES:
        raise Refusal(f"Priority must be one of P1–P4, not {priority}.")
    promise_at = parse_when(promise, now=now, cal_of=owner, rules=rules) if promise else None
    assert owner.id is not None
    case = Case(
        customer=customer.strip(),
        summary=summary.strip(),
        owner_id=owner.id,
        priority=prio,
        category=category,
        opened_at=now,
        promise_at=promise_at,
        promise_text=promise_text,
        promise_version=1 if promise_at else 0,
    )
    session.add(case)
    await session.flush()
    record(
        session,
        case=case,
        kind="opened",
        at=now,
        actor=owner,
        text=f"{case.key} opened for {case.customer}: {case.summary}",
        priority=prio,
    )
    tz = calendar_of(owner, rules.calendar).tz
    if promise_at:
        record(
            session,
            case=case,
            kind="promised",
            at=now,
            actor=owner,
            text=f"promised the customer an answer by {when_for(promise_at, tz)}",
            promise_at=promise_at.isoformat(),
        )
        await ladder.schedule_promise(
            session,
            case=case,
            owner_cal=calendar_of(owner, rules.calendar),
            policy=rules.policy,
            now=now,
        )
    return case, message(
        "case_opened",
        case=case.key,
        case_key=case.key,
        customer=case.customer,
        summary=case.summary,
        owner=mention(owner),
        priority=prio,
        promise=when_for(promise_at, tz)
        if promise_at
        else f"none yet (set one with /case promise {case.key} <when>)",
    )


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
) -> Message:
    case = await get_case(session, case_key, lock=True)
    owner = await require_case_manager(session, actor, case, "change the promise of")
    require_open(case)
    owner_cal = calendar_of(owner, rules.calendar)
    if kept:
        if case.promise_at is None:
            raise Refusal(f"{case.key} has no promise to keep yet.")
        case.promise_kept = now <= case.promise_at
        session.add(case)
        await ladder.cancel_promise_steps(session, case=case, outcome="kept")
        record(
            session,
            case=case,
            kind="promise_kept" if case.promise_kept else "promise_late",
            at=now,
            actor=actor,
            text="the customer got the promised answer"
            + ("" if case.promise_kept else " (after the promised time)"),
        )
        return message(
            "promise_kept" if case.promise_kept else "promise_late",
            case=case.key,
            case_key=case.key,
            customer=case.customer,
        )
    assert when is not None
    at = parse_when(when, now=now, cal_of=owner, rules=rules)
    previous = case.promise_at
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
        text=f"promised the customer an answer by {when_for(at, owner_cal.tz)}"
        + (f": {what}" if what else ""),
        promise_at=at.isoformat(),
        previous=previous.isoformat() if previous else None,
    )
    await ladder.schedule_promise(
        session, case=case, owner_cal=owner_cal, policy=rules.policy, now=now
    )
    late = [
        r
        for r in (
            await session.exec(
                select(Request).where(
                    Request.case_id == case.id, col(Request.status).in_(ladder.OPEN_STATES)
                )
            )
        ).all()
        if ladder.breaks_promise(
            case=case, deadline=r.deadline, owner_cal=owner_cal, policy=rules.policy
        )
    ]
    warning = ""
    if late:
        warning = (
            " Careful: "
            + ", ".join(r.key for r in late)
            + " is due too close to this promise (or after it)."
        )
    return message(
        "promise_set",
        case=case.key,
        case_key=case.key,
        customer=case.customer,
        promise=when_for(at, owner_cal.tz),
        warning=warning,
    )


async def transfer(
    *,
    session: AsyncSession,
    rules: Rules,
    actor: Person,
    case_key: str,
    to: Person,
    reason: str,
    now: datetime,
) -> Message:
    case = await get_case(session, case_key, lock=True)
    old = await require_case_manager(session, actor, case, "transfer")
    require_open(case)
    if to.id == case.owner_id:
        raise Refusal(f"@{to.handle} already owns {case.key}.")
    if is_away(to, now):
        raise Refusal(
            f"@{to.handle} is away until "
            f"{when_for(to.away_until, calendar_of(actor, rules.calendar).tz)}; "
            "choose someone who can own it now."
        )
    assert to.id is not None
    case.owner_id = to.id
    case.handoffs += 1
    session.add(case)
    record(
        session,
        case=case,
        kind="transferred",
        at=now,
        actor=actor,
        text=f"owner changed from {old.name} to {to.name}: {reason}",
        from_id=old.id,
        to_id=to.id,
    )
    await ladder.schedule_promise(
        session, case=case, owner_cal=calendar_of(to, rules.calendar), policy=rules.policy, now=now
    )
    tell(
        session,
        to,
        "case_transferred_to_you",
        at=now,
        case=case,
        customer=case.customer,
        summary=case.summary,
        by=mention(actor),
        reason=reason,
        promise=when_for(case.promise_at, calendar_of(to, rules.calendar).tz)
        if case.promise_at
        else "none",
    )
    if old.id != actor.id:
        tell(
            session,
            old,
            "case_transferred_away",
            at=now,
            case=case,
            to=mention(to),
            reason=reason,
        )
    return message(
        "case_transferred", case=case.key, case_key=case.key, to=mention(to), handoffs=case.handoffs
    )


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
    await require_case_manager(session, actor, case, "resolve")
    require_open(case)
    case.status = "resolved"
    case.resolved_at = now
    if case.promise_at is not None and case.promise_kept is None:
        case.promise_kept = now <= case.promise_at
    session.add(case)
    await ladder.cancel_promise_steps(session, case=case, outcome="resolved")
    open_reqs = (
        await session.exec(
            select(Request).where(
                Request.case_id == case.id, col(Request.status).in_(ladder.OPEN_STATES)
            )
        )
    ).all()
    for req in open_reqs:
        req.status = "cancelled"
        session.add(req)
        await ladder.cancel_request_steps(session, req=req, outcome="cancelled")
        record(
            session,
            case=case,
            request=req,
            kind="cancelled",
            at=now,
            actor=actor,
            text=f"{req.key} cancelled: the case was resolved",
        )
        for person_id in {req.assignee_id} - {None}:
            person = await session.get(Person, person_id)
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
        text="resolved" + (f": {note}" if note else ""),
        promise_kept=case.promise_kept,
    )
    kept = {True: "Promise kept.", False: "Promise missed.", None: "No promise was recorded."}
    return message(
        "case_resolved",
        case=case.key,
        case_key=case.key,
        customer=case.customer,
        kept=kept[case.promise_kept],
        actions=(Action("rate", case.key, "Record customer rating"),),
    )


async def reopen(
    *, session: AsyncSession, rules: Rules, actor: Person, case_key: str, now: datetime
) -> Message:
    case = await get_case(session, case_key, lock=True)
    owner = await require_case_manager(session, actor, case, "reopen")
    if case.status == "open":
        raise Refusal(f"{case.key} is already open.")
    case.status = "open"
    case.resolved_at = None
    if case.promise_at and case.promise_at > now:
        case.promise_kept = None
    session.add(case)
    record(session, case=case, kind="reopened", at=now, actor=actor, text="reopened")
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
    await require_case_manager(session, actor, case, "record the customer's rating of")
    if not 1 <= score <= 5:
        raise Refusal("A rating is a whole number from 1 to 5.")
    case.csat = score
    case.csat_comment = comment
    session.add(case)
    record(
        session,
        case=case,
        kind="rated",
        at=now,
        actor=actor,
        text=f"customer rated {score}/5" + (f": {comment}" if comment else ""),
        score=score,
    )
    return message("case_rated", case=case.key, case_key=case.key, score=score)


async def attach_thread(
    *,
    session: AsyncSession,
    case: Case,
    platform: str,
    channel: str,
    thread: str | None,
    message_id: str | None,
) -> None:
    """Remember where the case card lives: its thread is the case's home on that platform."""
    case.platform, case.channel, case.thread, case.message = platform, channel, thread, message_id
    session.add(case)
