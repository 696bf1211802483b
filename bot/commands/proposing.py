"""Keeping proposals and answering with them, once per delivery.

Both ways ownit proposes commands (plain words, who to ask) end here: the proposals are written
with the delivery's key in one transaction, so a platform's retry gets the first answer again
instead of a second set of proposals; a database that can't be reached gets the usual reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from bot.commands import grammar as c
from bot.commands.identity import identify
from bot.commands.origin import Origin
from bot.commands.outage import database_down, database_unreachable
from bot.commands.proposals import propose
from bot.commands.repeats import first_answer
from bot.commands.reply import Reply, refusal
from bot.errors import Refusal
from bot.messages import Action, Message
from bot.runtime.app import Ownit
from storage import inbox_row

log = logging.getLogger(__name__)


def confirm_button(number: int, label: str) -> Action:
    """The button that runs proposal `number` (a typed `Confirm`; `/case confirm N` typed)."""
    return Action("confirm", str(number), label)


def edit_button(number: int, label: str) -> Action:
    """The button that opens the proposal's words for changing before running them."""
    return Action("edit", str(number), label)


async def keep_proposals(
    app: Ownit,
    origin: Origin,
    *,
    key: str | None,
    now: datetime,
    commands: list[tuple[c.Command, str]],
    build: Callable[[list[int]], Message],
    case: str | None = None,
) -> Reply:
    """Keep `commands` (each with its words) for the person of `origin`, and answer with the
    message `build` makes from their numbers."""
    inbox_row.begin()
    try:
        async with app.db.session() as s:
            actor = await identify(s, origin)
            numbers = []
            for command, text in commands:
                row = await propose(s, person=actor, command=command, text=text, now=now)
                assert row.id is not None
                numbers.append(row.id)
            reply = Reply([build(numbers)], case=case)
            if key is not None:  # written with the proposals: a retry fails here, undone
                inbox_row.record_delivery(s, key=key, at=now, reply=reply.to_dict())
        inbox_row.committed()
    except Refusal as exc:
        return refusal(exc.message, exc.usage)
    except IntegrityError:
        if (first := await first_answer(app, key)) is None:
            raise
        return first
    except Exception as exc:
        if not database_unreachable(exc):
            raise
        log.warning("database unreachable; proposal not kept: %s", exc)
        return refusal(database_down())
    return reply
