"""Proposed commands: kept as the typed command they are, run by their person, once.

A proposal is what ownit worked out for someone — a command from their plain words, or a
colleague to ask — shown with the exact command words and a Confirm button. The button carries
only the proposal's number (`Confirm`); the command comes from this row, never from text the
button carried, and `take` hands it out to the person it was proposed to, only once.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.commands import grammar as c
from bot.errors import Refusal
from bot.messages import sentence
from storage.tables import Person, Proposal

LIFETIME = timedelta(days=1)
"""How long a proposal may be confirmed: its time words ("tomorrow 12:00") were meant for then."""

_KINDS: dict[str, type[Any]] = {
    k.__name__: k
    for k in (
        c.Ask,
        c.Promise,
        c.Status,
        c.Mine,
        c.Update,
        c.Resolve,
        c.Reopen,
        c.Transfer,
        c.Ack,
        c.Answer,
        c.MoreTime,
        c.Redirect,
        c.Away,
        c.Help,
    )
}
"""The commands a proposal may hold: those a person could ask for in words (no admin, no
confirming a proposal, no deadline instants)."""


def proposable(command: c.Command) -> bool:
    return type(command).__name__ in _KINDS and _KINDS[type(command).__name__] is type(command)


def encode(command: c.Command) -> dict[str, Any]:
    """A proposable command as JSON: its type and its fields (people and teams as `Ref`s)."""
    if not proposable(command):
        raise ValueError(f"{type(command).__name__} can't be proposed")
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(command):  # type: ignore[arg-type]
        value = getattr(command, f.name)
        fields[f.name] = {"ref": dataclasses.asdict(value)} if isinstance(value, c.Ref) else value
    return {"type": type(command).__name__, "fields": fields}


def decode(data: dict[str, Any]) -> c.Command:
    """The command `encode` wrote; ValueError for anything else."""
    kind = _KINDS.get(str(data.get("type")))
    fields = data.get("fields")
    if kind is None or not isinstance(fields, dict):
        raise ValueError("not a proposed command")
    values = {
        k: c.Ref(**v["ref"]) if isinstance(v, dict) and "ref" in v else v for k, v in fields.items()
    }
    try:
        command: c.Command = kind(**values)
    except TypeError as exc:
        raise ValueError("not a proposed command") from exc
    return command


async def propose(
    session: AsyncSession, *, person: Person, command: c.Command, text: str, now: datetime
) -> Proposal:
    """Keep `command` (shown as `text`) for `person` to confirm; its number is its id."""
    assert person.id is not None
    row = Proposal(person_id=person.id, command=encode(command), text=text, created_at=now)
    session.add(row)
    await session.flush()
    return row


async def take(session: AsyncSession, *, number: int, actor: Person, now: datetime) -> c.Command:
    """The command proposed to `actor` as `number`, marked used in the caller's transaction (a
    refusal later in it rolls the mark back). Someone else's proposal, one that does not exist
    and one already used are refused alike as theirs, and nothing is written."""
    marked = await session.exec(  # type: ignore[call-overload]
        update(Proposal)
        .where(col(Proposal.id) == number)
        .where(col(Proposal.person_id) == actor.id)
        .where(col(Proposal.used_at).is_(None))
        .where(col(Proposal.created_at) > now - LIFETIME)
        .values(used_at=now)
    )
    if marked.rowcount != 1:
        row = await session.get(Proposal, number)
        if row is None or row.person_id != actor.id:
            raise Refusal(sentence("words_proposal_not_yours", number=number))
        if row.used_at is not None:
            raise Refusal(sentence("words_proposal_used", number=number))
        raise Refusal(sentence("words_proposal_old", number=number, command=row.text))
    row = await session.get(Proposal, number)
    assert row is not None
    try:
        return decode(row.command)
    except ValueError as exc:
        raise Refusal(sentence("words_proposal_not_yours", number=number)) from exc


async def text_of(session: AsyncSession, *, number: int, actor: Person) -> str | None:
    """The words of a proposal made to `actor` (to edit them), or None."""
    row = await session.get(Proposal, number)
    return row.text if row is not None and row.person_id == actor.id else None
