"""Drafts of customer updates, written from the case's timeline.

The owner stays the author: ownit only drafts. The pieces are worded in `prompts/drafts.yaml`
and set into `prompts/update.txt`. The wording is honest by construction — it says
what is known, what is being done and when the customer will hear next: the promise while it can
be kept, the honest new time (`bot.new_time`) once it cannot, never a time nobody can keep.
"""

from __future__ import annotations

from datetime import datetime
from importlib import resources

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.directory import Rules, calendar_of
from bot.messages import sentence
from bot.new_time import next_contact
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
        progress = sentence("draft_resolved")
    elif waiting and answered:
        progress = sentence("draft_partly_answered", waiting=len(waiting))
    elif waiting:
        late = [r for r in waiting if r.deadline < now or (r.eta and r.eta > r.deadline)]
        progress = sentence("draft_running_late" if late else "draft_in_hand")
    elif answered:
        progress = sentence("draft_answered")
    else:
        progress = sentence("draft_looking")
    next_time = await next_contact(session, case=case, rules=rules, now=now)
    if next_time is not None:
        next_step = sentence("draft_next_by", promise=when_for(next_time, tz, now=now))
    else:
        next_step = sentence("draft_next_open")
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
