"""The customer updates of a case: the draft for the owner, and the record that one was sent.

The draft is read in the command's transaction (facts and the template) and worded by the model
after it committed (`Reply.finish`), so no transaction waits on a model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.assist import Model
from bot.assist.updates import word_update
from bot.cases.lookup import get_case
from bot.directory import Rules
from bot.drafts import draft_message, update_facts
from bot.messages import Message, message
from bot.notices import record_customer_updated
from storage.tables import Person

Finish = Callable[[Model], Awaitable[list[Message]]]


async def draft_update(
    *, session: AsyncSession, rules: Rules, actor: Person, case_key: str, now: datetime
) -> tuple[Message, Finish]:
    """The template draft, and the step that words it with the model once committed (or, the
    first time `actor` drafts while the assist is off, says so on the draft)."""
    case = await get_case(session, case_key)
    facts = await update_facts(session, case=case, now=now, rules=rules)
    drafted = draft_message(facts, facts.template, drafted_by_model=False)

    async def finish(model: Model) -> list[Message]:
        if not model.on:
            if model.first_time_off(actor.handle):
                return [draft_message(facts, facts.template, drafted_by_model=False, off=True)]
            return [drafted]
        worded = await word_update(model, facts, now=now)
        if worded is None:
            return [drafted]
        return [draft_message(facts, worded, drafted_by_model=True)]

    return drafted, finish


async def log_update(
    *, session: AsyncSession, actor: Person, case_key: str, text: str | None, now: datetime
) -> Message:
    """The timeline records that the customer was updated (and with what, when given)."""
    case = await get_case(session, case_key, lock=True)
    record_customer_updated(session, case=case, actor=actor, at=now, note=text)
    return message(
        "draft_logged", case=case.key, private=True, case_key=case.key, customer=case.customer
    )
