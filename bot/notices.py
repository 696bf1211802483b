"""Recording what happened and telling people about it, in the same transaction as the change.

`record` appends to a case's timeline; `notify` queues a message for a person in the outbox.
Neither talks to a platform: the delivery layer picks the person's platform after commit. Both
rows are only appended (`storage.appends`): written with the change's other appended rows in one
statement, so they get no id here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.business_time import format_when
from bot.messages import Action, Message, Segment, compose, sentence
from storage.appends import append
from storage.tables import Case, Event, Outbox, Person, Request


def when_for(at: datetime | None, tz: str, *, now: datetime | None = None) -> str:
    """A time as the reader sees it: their own zone, with its abbreviation (and its year when
    that is not now's)."""
    if at is None:
        return "no time set"
    abbrev = at.astimezone(ZoneInfo(tz)).strftime("%Z")
    return f"{format_when(at, tz, now=now)} {abbrev}".strip()


def record(
    session: AsyncSession,
    *,
    case: Case,
    kind: str,
    at: datetime,
    actor: Person | None = None,
    request: Request | None = None,
    text: str = "",
    **data: Any,
) -> None:
    assert case.id is not None
    append(
        session,
        Event,
        case_id=case.id,
        request_id=request.id if request else None,
        at=at,
        kind=kind,
        actor_id=actor.id if actor else None,
        text=text,
        data=data,
    )


def record_customer_updated(
    session: AsyncSession,
    *,
    case: Case,
    actor: Person,
    at: datetime,
    note: str | None,
    **data: Any,
) -> None:
    """The timeline line saying the customer was told (and what, when known): logged by hand,
    or implied by moving the promise."""
    text = sentence(
        "timeline_customer_updated",
        name=actor.name,
        text=sentence("timeline_note", note=note) if note else None,
    )
    record(session, case=case, kind="customer_updated", at=at, actor=actor, text=text, **data)


def notify(
    session: AsyncSession,
    *,
    to: Person,
    msg: Message,
    at: datetime,
    case: Case | None = None,
    request: Request | None = None,
) -> None:
    assert to.id is not None
    append(
        session,
        Outbox,
        person_id=to.id,
        kind=msg.kind,
        payload=msg.to_dict(),
        case_id=case.id if case else None,
        request_id=request.id if request else None,
        created_at=at,
    )


def tell(
    session: AsyncSession,
    to: Person,
    kind: str,
    /,
    *,
    at: datetime,
    case: Case,
    request: Request | None = None,
    actions: tuple[Action, ...] = (),
    **fields: Segment | int | float | None,
) -> None:
    """Queue the message `kind` for `to` about a case (and request); their keys fill themselves."""
    fields.setdefault("case_key", case.key)
    if request is not None:
        fields.setdefault("request_key", request.key)
    msg = Message(
        kind,
        compose(kind, **fields),
        case=case.key,
        request=request.key if request else None,
        actions=actions,
    )
    notify(session, to=to, at=at, case=case, request=request, msg=msg)
