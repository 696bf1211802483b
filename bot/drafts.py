"""Drafts of customer updates, written from the case's timeline.

The owner stays the author: ownit only drafts. The wording is honest by construction — it says
what is known, what is being done and when the customer will hear next, and never promises more
than the recorded promise.
"""

from __future__ import annotations

from datetime import datetime
from importlib import resources

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.directory import Rules, calendar_of
from bot.notices import when_for
from storage.states import OPEN_REQUEST_STATES, CaseStatus, RequestStatus
from storage.tables import Case, Person, Request


def _template() -> str:
    return resources.files("prompts").joinpath("update.txt").read_text("utf-8")


async def customer_update(session: AsyncSession, *, case: Case, now: datetime, rules: Rules) -> str:
    owner = await session.get(Person, case.owner_id)
    assert owner is not None
    tz = calendar_of(owner, rules.calendar).tz
    reqs = (
        await session.exec(
            select(Request).where(Request.case_id == case.id).order_by(col(Request.id))
        )
    ).all()
    answered = [r for r in reqs if r.status == RequestStatus.ANSWERED]
    waiting = [r for r in reqs if r.status in OPEN_REQUEST_STATES]
    if case.status != CaseStatus.OPEN:
        progress = "Your issue is resolved."
    elif waiting and answered:
        progress = (
            f"We have part of the answer and are still waiting on {len(waiting)} "
            "check(s) with our specialists."
        )
    elif waiting:
        late = [r for r in waiting if r.deadline < now or (r.eta and r.eta > r.deadline)]
        progress = (
            "Our specialist team is still working on it and it is taking longer than we hoped."
            if late
            else "Our specialist team is looking into it now."
        )
    elif answered:
        progress = "We have the information we needed and are preparing our reply."
    else:
        progress = "I am looking into it."
    if case.promise_at and case.status == CaseStatus.OPEN:
        next_step = f"You will hear from me again by {when_for(case.promise_at, tz)}."
    else:
        next_step = "I will keep you posted as soon as anything changes."
    return (
        _template()
        .format(
            customer=case.customer,
            summary=case.summary,
            progress=progress,
            next_step=next_step,
            owner=owner.name,
        )
        .strip()
    )
