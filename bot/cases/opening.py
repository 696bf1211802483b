"""Opening a case: one owner, a priority, and the promise made to the customer if there is one."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder
from bot.cases.lookup import PRIORITIES, parse_when
from bot.directory import Rules, calendar_of, mention
from bot.errors import Refusal
from bot.messages import Message, message, sentence
from bot.notices import record, when_for
from storage.states import Priority
from storage.tables import Case, Person


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
    prio = (priority or Priority.P3).upper()
    if prio not in PRIORITIES:
        raise Refusal(sentence("cmd_bad_priority", priority=priority))
    promise_at = parse_when(promise, now=now, cal_of=owner, rules=rules) if promise else None
    assert owner.id is not None
    case = Case(
        customer=customer.strip(),
        summary=summary.strip(),
        owner_id=owner.id,
        priority=Priority(prio),
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
        text=sentence(
            "timeline_opened", case_key=case.key, customer=case.customer, summary=case.summary
        ),
        priority=Priority(prio),
    )
    tz = calendar_of(owner, rules.calendar).tz
    if promise_at:
        record(
            session,
            case=case,
            kind="promised",
            at=now,
            actor=owner,
            text=sentence(
                "timeline_promised", promise=when_for(promise_at, tz), what=None, earlier=None
            ),
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
        priority=Priority(prio),
        promise=when_for(promise_at, tz)
        if promise_at
        else sentence("cmd_no_promise_yet", case_key=case.key),
    )
