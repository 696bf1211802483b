"""Honest customer updates worded by the model around the time computed in code.

The model gets the case's facts (fenced as data) and the next contact time; its draft is kept
only if it names that time, exactly, and no other date or time. Otherwise — or when the model is
off, over budget or failing — the template draft is the draft.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import BaseModel, Field

from bot.assist.model import Model
from bot.assist.times import times_named
from bot.drafts import UpdateFacts

log = logging.getLogger(__name__)

FEATURE = "customer_update"


class CustomerUpdate(BaseModel):
    """The model's answer: the message to the customer, plain text."""

    message: str = Field(description="the update to send to the customer, plain text")


def acceptable(text: str, facts: UpdateFacts) -> str | None:
    """Why a drafted text may not be sent as it is (None: it may)."""
    if not text.strip():
        return "an empty draft"
    if len(text) > 1500:
        return "a draft longer than an update"
    if facts.next_contact is not None and facts.next_contact not in text:
        return f"a draft without the next contact time ({facts.next_contact})"
    others = times_named(text, allowed=facts.next_contact)
    if others:
        return f"a draft naming another time: {', '.join(others[:3])}"
    return None


async def word_update(model: Model, facts: UpdateFacts, *, now: datetime) -> str | None:
    """The model's wording of the update, checked; None when the template must be used."""
    answer = await model.structured(
        feature=FEATURE,
        prompt="customer_update",
        variables={
            "next_contact": facts.next_contact or "none: write no date or time",
            "owner": facts.owner,
            "case": facts.case,
        },
        schema=CustomerUpdate,
        now=now,
        private=[facts.customer],
    )
    if answer is None:
        return None
    text = answer.message.strip()
    why = acceptable(text, facts)
    if why is not None:
        model.rejected(FEATURE, "wrong_time" if "time" in why else "unusable", why)
        return None
    return text
