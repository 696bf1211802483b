"""The escalation ladder: which steps a request gets, when they fall due, and what each one does.

Steps are rows in the `timer` table, keyed so that each fires at most once. Firing happens in the
transaction that marks the row done, so a step's notices and timeline entry commit together with
its completion, or not at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import drafts, people_cache, promise_alarm
from bot.business_time import Calendar
from bot.directory import Rules, calendar_of, manager_of, members, mention
from bot.messages import Action, sentence
from bot.notices import record, tell, when_for
from bot.policy import Policy
from storage.appends import append
from storage.db import note_due
from storage.states import OPEN_REQUEST_STATES, CaseStatus, RequestStatus, Step, TimerOutcome
from storage.tables import Case, Person, Request, Team, Timer

OPEN_STATES = OPEN_REQUEST_STATES
"""The request states still waiting on someone (kept here for the platforms that import it)."""

SKIPPED = TimerOutcome.SKIPPED
"""The outcome of a step that found nothing left to do (not a `TimerOutcome` yet)."""


def colleague_actions(req: Request) -> tuple[Action, ...]:
    key = req.key
    return (
        Action("ack", key, sentence("action_ack")),
        Action("answer", key, sentence("action_answer")),
        Action("more_time", key, sentence("action_more_time")),
        Action("redirect", key, sentence("action_redirect")),
    )


def escalation_actions(
    req: Request, *, now: datetime, rules: Rules, cal_of: Person | Team | None, tz: str
) -> tuple[Action, ...]:
    """The escalated manager's buttons: hand the request on, or give it a new deadline as long
    again as the colleague was first given (in their business time, computed here)."""
    cal = calendar_of(cal_of, rules.calendar)
    new = fresh_deadline(req, now=now, was=cal, cal=cal)
    return (
        Action("redirect", req.key, sentence("action_redirect")),
        Action(
            "shorten",
            req.key,
            sentence("action_move_deadline", when=when_for(new, tz)),
            value=new.isoformat(),
        ),
    )


def fresh_deadline(req: Request, *, now: datetime, was: Calendar, cal: Calendar) -> datetime:
    """A deadline as long again, from `now`, as the request's window (measured in `was`, the
    calendar it ran on), counted in `cal` (the calendar of whoever holds it next)."""
    window = was.between(req.opened_at, req.deadline)
    if window <= timedelta(0):
        return now + max(req.deadline - req.opened_at, timedelta(minutes=1))
    return cal.add(now, window)


def step_times(
    cal: Calendar, opened: datetime, deadline: datetime, policy: Policy
) -> dict[Step, datetime]:
    """Due times of a request's steps: shares of its window in the colleague's business time."""
    window = cal.between(opened, deadline)
    if window <= timedelta(0):
        span = deadline - opened

        def at(share: float) -> datetime:
            return opened + span * share
    else:

        def at(share: float) -> datetime:
            return min(cal.add(opened, window * share), deadline)

    return {Step.NUDGE: at(policy.nudge), Step.AT_RISK: at(policy.at_risk), Step.OVERDUE: deadline}


async def schedule_request(
    session: AsyncSession,
    *,
    req: Request,
    cal: Calendar,
    policy: Policy,
    new: bool = False,
    now: datetime | None = None,
    since: datetime | None = None,
) -> None:
    """Create or move the request's pending steps; steps already fired stay fired.

    A `new` request (just asked) has no steps yet, so they are not looked for. Given `now`, a
    moved deadline gets its own ladder: a step already done for an earlier deadline is armed again
    for this one when its new time is still ahead (once per deadline and holder: the key names
    the deadline and the redirect count), so an open request never lacks a next step before its
    deadline. `since` starts the window somewhere else than the asking (a redirect: the new
    holder's ladder runs from when they got it).
    """
    assert req.id is not None
    times = step_times(cal, since or req.opened_at, req.deadline, policy)
    existing: dict[str, list[Timer]] = {}
    if not new:
        found = await session.exec(select(Timer).where(Timer.request_id == req.id))
        for timer in found.all():
            existing.setdefault(timer.step, []).append(timer)
    for step, due in times.items():
        timers = existing.get(step, [])
        pending = [t for t in timers if not t.done]
        if not timers:
            _append_step(session, req, step, due, f"{req.key}:{step}")
        elif pending:
            for timer in pending:
                timer.due_at = due
                session.add(timer)
        elif now is not None and due > now:
            key = f"{req.key}:{step}@{req.deadline:%Y%m%dT%H%M%S}"
            key += f"~{req.redirects}" if req.redirects else ""
            if all(t.key != key for t in timers):
                _append_step(session, req, step, due, key)


def _append_step(session: AsyncSession, req: Request, step: Step, due: datetime, key: str) -> None:
    assert req.id is not None
    append(session, Timer, key=key, step=step, case_id=req.case_id, request_id=req.id, due_at=due)


async def bring_forward(session: AsyncSession, *, req: Request, step: Step, at: datetime) -> None:
    """Make a pending step due now (an ETA past the deadline makes a request at risk at once)."""
    await session.exec(
        update(Timer)
        .where(col(Timer.request_id) == req.id, col(Timer.step) == step, col(Timer.done).is_(False))
        .values(due_at=at)
    )
    note_due(session, at)


async def hold_until(session: AsyncSession, *, req: Request, step: Step, at: datetime) -> None:
    """Put a pending step off until `at` if it was due sooner (an ETA inside the deadline holds
    the at-risk warning until the ETA passes)."""
    await session.exec(
        update(Timer)
        .where(
            col(Timer.request_id) == req.id,
            col(Timer.step) == step,
            col(Timer.done).is_(False),
            col(Timer.due_at) < at,
        )
        .values(due_at=at)
    )


async def cancel_request_steps(
    session: AsyncSession, *, req: Request, outcome: TimerOutcome
) -> None:
    await session.exec(
        update(Timer)
        .where(col(Timer.request_id) == req.id, col(Timer.done).is_(False))
        .values(done=True, outcome=outcome)
    )


async def schedule_promise(
    session: AsyncSession, *, case: Case, owner_cal: Calendar, policy: Policy, now: datetime
) -> None:
    """One `promise_at_risk` step per promise version, due a buffer before the promise.

    Called again when the owner, the calendar or the case's state changes: the step of the
    current version is moved (or revived after a reopen), never duplicated, and never fired twice.
    """
    assert case.id is not None
    key = f"{case.key}:{Step.PROMISE_AT_RISK}:{case.promise_version}"
    await session.exec(
        update(Timer)
        .where(
            col(Timer.case_id) == case.id,
            col(Timer.step) == Step.PROMISE_AT_RISK,
            col(Timer.key) != key,
            col(Timer.done).is_(False),
        )
        .values(done=True, outcome=TimerOutcome.SUPERSEDED)
    )
    current = (await session.exec(select(Timer).where(Timer.key == key))).first()
    wanted = (
        case.promise_at is not None and case.status == CaseStatus.OPEN and not case.promise_kept
    )
    if current is not None and current.outcome == TimerOutcome.FIRED:
        return
    if not wanted:
        if current is not None and not current.done:
            current.done, current.outcome = True, TimerOutcome.SUPERSEDED
            session.add(current)
        return
    assert case.promise_at is not None
    due = max(latest_before(owner_cal, case.promise_at, policy.buffer, now), now)
    if current is None:
        append(session, Timer, key=key, step=Step.PROMISE_AT_RISK, case_id=case.id, due_at=due)
        return
    current.due_at, current.done, current.outcome, current.fired_at = due, False, None, None
    session.add(current)


async def cancel_promise_steps(session: AsyncSession, *, case: Case, outcome: TimerOutcome) -> None:
    await session.exec(
        update(Timer)
        .where(
            col(Timer.case_id) == case.id,
            col(Timer.step) == Step.PROMISE_AT_RISK,
            col(Timer.done).is_(False),
        )
        .values(done=True, outcome=outcome)
    )


def latest_before(cal: Calendar, promise: datetime, buffer: timedelta, now: datetime) -> datetime:
    """The latest moment that still leaves `buffer` of business time before `promise`."""
    lo, hi = now, promise
    if cal.between(lo, promise) < buffer:
        return now
    for _ in range(60):
        mid = lo + (hi - lo) / 2
        if cal.between(mid, promise) >= buffer:
            lo = mid
        else:
            hi = mid
        if hi - lo < timedelta(seconds=1):
            break
    rounded = (lo + timedelta(seconds=30)).replace(second=0, microsecond=0)
    if cal.between(rounded, promise) >= buffer:
        return rounded
    return lo.replace(second=0, microsecond=0)


def breaks_promise(*, case: Case, deadline: datetime, owner_cal: Calendar, policy: Policy) -> bool:
    """The promise rule: a deadline must leave the owner a buffer before the case's promise."""
    if case.promise_at is None or case.promise_kept:
        return False
    if deadline >= case.promise_at:
        return True
    return owner_cal.between(deadline, case.promise_at) < policy.buffer


# --- firing --------------------------------------------------------------------------------------


async def fire(session: AsyncSession, *, timer: Timer, now: datetime, rules: Rules) -> TimerOutcome:
    """Fire one claimed step; returns the outcome stored on the timer ("fired" or "skipped")."""
    case = await session.get(Case, timer.case_id)
    assert case is not None
    owner = await people_cache.by_id(session, case.owner_id)
    assert owner is not None
    if timer.step == Step.PROMISE_AT_RISK:
        return await promise_alarm.promise_at_risk(
            session, timer=timer, case=case, owner=owner, now=now, rules=rules
        )
    req = await session.get(Request, timer.request_id)
    assert req is not None
    if req.status not in OPEN_REQUEST_STATES or case.status != CaseStatus.OPEN:
        return SKIPPED
    if timer.step == Step.NUDGE and req.status != RequestStatus.OPEN:
        return SKIPPED
    assignee = await people_cache.by_id(session, req.assignee_id) if req.assignee_id else None
    team = await session.get(Team, req.team_id) if req.team_id else None
    colleagues = [assignee] if assignee else (await members(session, team) if team else [])
    target_name = assignee.name if assignee else (team.name if team else "?")

    record(
        session,
        case=case,
        request=req,
        kind=f"step:{timer.step}",
        at=now,
        text=sentence(f"timeline_step_{timer.step}", request_key=req.key, target=target_name),
    )

    def remind_colleagues(kind: str) -> None:
        for person in colleagues:
            tell(
                session,
                person,
                kind,
                at=now,
                case=case,
                request=req,
                actions=colleague_actions(req),
                owner=mention(owner),
                question=req.question,
                deadline=when_for(req.deadline, calendar_of(person, rules.calendar).tz),
            )

    if timer.step == Step.NUDGE:
        remind_colleagues("nudge")
        return TimerOutcome.FIRED

    owner_tz = calendar_of(owner, rules.calendar).tz
    if timer.step == Step.AT_RISK:
        # The owner hears only when the customer's promise is in danger (or there is none to
        # weigh it against); a request late for its own deadline with the promise still safe is
        # the colleague's reminder alone.
        offer, move = await promise_alarm.new_time_offer(
            session, case=case, rules=rules, now=now, tz=owner_tz
        )
        if case.promise_at is None or offer is not None:
            draft = await drafts.customer_update(session, case=case, now=now, rules=rules)
            tell(
                session,
                owner,
                "at_risk_owner",
                at=now,
                case=case,
                request=req,
                actions=(*move, Action("update", case.key, sentence("action_draft_update"))),
                new_time=offer,
                colleague=target_name,
                customer=case.customer,
                deadline=when_for(req.deadline, owner_tz),
                eta=when_for(req.eta, owner_tz) if req.eta else sentence("cmd_none"),
                promise=when_for(case.promise_at, owner_tz)
                if case.promise_at
                else sentence("cmd_none"),
                draft=draft,
            )
        remind_colleagues("at_risk_colleague")
        return TimerOutcome.FIRED

    # overdue: the colleague's manager (or the team's), copying the owner
    manager = await manager_of(session, assignee) if assignee else None
    if manager is None and team is not None:
        manager = await manager_of(session, team)
    if manager is not None:
        manager_tz = calendar_of(manager, rules.calendar).tz
        tell(
            session,
            manager,
            "overdue_manager",
            at=now,
            case=case,
            request=req,
            actions=escalation_actions(
                req, now=now, rules=rules, cal_of=assignee or team, tz=manager_tz
            ),
            colleague=mention(assignee) if assignee else target_name,
            owner=mention(owner),
            customer=case.customer,
            question=req.question,
            deadline=when_for(req.deadline, manager_tz),
            promise=when_for(case.promise_at, manager_tz)
            if case.promise_at
            else sentence("cmd_none"),
        )
    tell(
        session,
        owner,
        "overdue_owner",
        at=now,
        case=case,
        request=req,
        colleague=target_name,
        deadline=when_for(req.deadline, owner_tz),
        manager=mention(manager) if manager else sentence("cmd_no_manager"),
    )
    remind_colleagues("overdue_colleague")
    return TimerOutcome.FIRED
