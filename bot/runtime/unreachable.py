"""Telling a case's owner that a notice reached nobody, and noting it on the case's timeline.

The owner is told what to do (each channel that could not says why, in its `Unreachable`; with
none, how to link an account) and gets the notice itself to pass on by hand. A notice about no
case, or to its own owner, or itself such a report, is only logged: there is nobody to tell.
"""

from __future__ import annotations

import logging

from bot import people_cache
from bot.clock import Clock
from bot.messages import Message, compose, sentence
from bot.notices import notify
from bot.runtime.outbox import Notice
from storage.db import Database
from storage.tables import Case, Event, Person

log = logging.getLogger(__name__)

UNREACHABLE = "unreachable"  # the kind of the owner's notice and of the timeline's event


async def report_unreachable(
    db: Database, clock: Clock, row: Notice, person: Person, msg: Message, hints: list[str]
) -> int:
    """Tell the case owner, with what to do, that a notice could not reach someone: 1 if told."""
    if row.case_id is None or row.kind == UNREACHABLE:
        log.warning("outbox %s: nobody can reach @%s", row.id, person.handle)
        return 0
    how = "; ".join(hints) or sentence(
        "runtime_unreachable_no_account", name=person.name, handle=person.handle
    )
    at = await clock.now()  # the timeline speaks the system's time, simulated or not
    async with db.session() as s:
        case = await s.get(Case, row.case_id)
        owner = await people_cache.by_id(s, case.owner_id) if case else None
        if case is None or owner is None or owner.id == person.id:
            log.warning("outbox %s: nobody can reach @%s", row.id, person.handle)
            return 0
        told = compose(
            "runtime_unreachable",
            name=person.name,
            handle=person.handle,
            case_key=case.key,
            how=how,
            notice=msg.plain(),
        )
        notify(
            s,
            to=owner,
            at=at,
            case=case,
            msg=Message(UNREACHABLE, told, case=case.key, request=msg.request),
        )
        s.add(
            Event(
                case_id=row.case_id,
                request_id=row.request_id,
                at=at,
                kind=UNREACHABLE,
                text=sentence("runtime_unreachable_timeline", name=person.name, how=how),
                data={"person_id": person.id, "outbox_id": row.id},
            )
        )
    return 1
