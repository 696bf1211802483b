"""Drafts of customer updates, written from the case's timeline.

The owner stays the author: ownit only drafts. The pieces are worded in `prompts/drafts.yaml`
and set into `prompts/update.txt`. The wording is honest by construction — it says
what is known, what is being done and when the customer will hear next: the promise while it can
be kept, the honest new time (`bot.new_time`) once it cannot, never a time nobody can keep. Every
draft, template or model, takes that time from `bot.new_time.next_contact` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.directory import Rules, calendar_of
from bot.messages import Action, Message, sentence
from bot.new_time import next_contact
from bot.notices import when_for
from storage.states import OPEN_REQUEST_STATES, CaseStatus, RequestStatus
from storage.tables import Case, Event, Person, Request

BUTTON_TEXT = 1900
"""The most of a draft a button carries (Slack takes 2000 characters in a button's value)."""


def _template() -> str:
    return resources.files("prompts").joinpath("update.txt").read_text("utf-8")


async def _requests(session: AsyncSession, case: Case) -> list[Request]:
    found = await session.exec(
        select(Request).where(Request.case_id == case.id).order_by(col(Request.id))
    )
    return list(found.all())


async def customer_update(session: AsyncSession, *, case: Case, now: datetime, rules: Rules) -> str:
    owner = await session.get(Person, case.owner_id)
    assert owner is not None
    tz = calendar_of(owner, rules.calendar).tz
    reqs = await _requests(session, case)
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
    at = await next_contact(session, case=case, rules=rules, now=now)
    if at is not None:
        next_step = sentence("draft_next_by", promise=when_for(at, tz, now=now))
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


@dataclass(frozen=True)
class UpdateFacts:
    """What a model may know to word an update: read in the command's transaction, used after."""

    case_key: str
    customer: str
    owner: str
    next_contact: str | None  # as the owner reads it: the only time a draft may name
    template: str  # the template draft, used whenever the model's is not
    case: dict[str, Any]  # summary, status, requests and timeline: people's text, fenced


async def update_facts(
    session: AsyncSession, *, case: Case, now: datetime, rules: Rules
) -> UpdateFacts:
    owner = await session.get(Person, case.owner_id)
    assert owner is not None
    tz = calendar_of(owner, rules.calendar).tz
    at = await next_contact(session, case=case, rules=rules, now=now)
    events = await session.exec(
        select(Event).where(Event.case_id == case.id).order_by(col(Event.id))
    )
    facts = {
        "customer": case.customer,
        "summary": case.summary,
        "status": str(case.status),
        "requests": [
            {"question": r.question, "status": str(r.status), "answer": r.answer}
            for r in await _requests(session, case)
        ],
        "timeline": [e.text for e in events.all()][-40:],
    }
    return UpdateFacts(
        case_key=case.key,
        customer=case.customer,
        owner=owner.name,
        next_contact=when_for(at, tz, now=now) if at is not None else None,
        template=await customer_update(session, case=case, now=now, rules=rules),
        case=facts,
    )


def draft_message(
    facts: UpdateFacts, text: str, *, drafted_by_model: bool, off: bool = False
) -> Message:
    """The draft as the owner sees it (only them): heading, the words, Edit, Copy, Log as sent."""
    heading = sentence("cmd_draft_update", customer=facts.customer, case_key=facts.case_key)
    how = sentence(
        "draft_by_model"
        if drafted_by_model
        else ("draft_by_template_ai_off" if off else "draft_by_template")
    )
    carried = text[:BUTTON_TEXT]
    return Message(
        "draft",
        (heading + "\n\n", text, "\n\n" + how),
        case=facts.case_key,
        private=True,
        actions=(
            Action("edit_update", facts.case_key, sentence("draft_button_edit"), carried),
            Action("copy_update", facts.case_key, sentence("draft_button_copy"), carried),
            Action("log_update", facts.case_key, sentence("draft_button_log"), carried),
        ),
    )
