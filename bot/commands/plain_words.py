"""Commands in plain words: "@ownit ask billing whether invoice 1043 was charged twice, I need it
by noon tomorrow" becomes a proposed `/case ask C-42 @billing … by tomorrow 12:00`, shown to its
author with Confirm and Edit; nothing happens without the click.

The model only reads the words (fenced as data) into a `Spoken` command; its words go through
the one grammar, the names through the directory and the need through `bot.access`, exactly as
if typed, and whatever of that refuses is said in its own words. Without a model (or on any
failure of it) plain words get the usage answer as before, and the person is told once that AI
is off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from bot import access
from bot.cases import get_case
from bot.commands import grammar as c
from bot.commands.identity import identify
from bot.commands.needs import need_of
from bot.commands.origin import Origin
from bot.commands.proposals import proposable
from bot.commands.proposing import confirm_button, edit_button, keep_proposals
from bot.commands.reply import Reply, refusal
from bot.commands.spoken import Spoken, words
from bot.directory import resolve
from bot.errors import Refusal
from bot.messages import Code, Message, compose, sentence
from bot.runtime.app import Ownit
from storage.tables import Person, Team

log = logging.getLogger(__name__)

Parse = Callable[[str], c.Command]
DIRECTORY_ROWS = 200  # teams and people the model may map names to


def is_plain(text: str) -> bool:
    """Words that are not a command: no `/`, and no command word in front."""
    return bool(c.words(text)) and not c.names_a_command(text)


async def _not_understood(app: Ownit, refused: c.UsageError, origin: Origin) -> Reply:
    """The answer as without AI: the grammar's message and usage, and, the first time a person
    writes plain words while the assist is off, that it is off (`Model.first_time_off`)."""
    model = app.assist
    if model is not None and not model.on:
        try:
            async with app.db.session() as s:
                handle = (await identify(s, origin)).handle
        except Refusal:
            handle = None
        if handle is not None and model.first_time_off(handle):
            return refusal(f"{refused.message}\n{sentence('words_ai_off')}", refused.usage)
    return refusal(refused.message, refused.usage)


async def _directory(app: Ownit) -> list[dict[str, Any]]:
    """The names the model may use: teams (with topics) first, then people."""
    async with app.db.reader() as s:
        teams = (await s.exec(select(Team).order_by(col(Team.key)).limit(DIRECTORY_ROWS))).all()
        people = (
            await s.exec(select(Person).order_by(col(Person.handle)).limit(DIRECTORY_ROWS))
        ).all()
    listing: list[dict[str, Any]] = [
        {"key": t.key, "team": t.name, "topics": t.topics or []} for t in teams
    ]
    listing += [{"key": p.handle, "person": p.name} for p in people]
    return listing[:DIRECTORY_ROWS]


def _refs(command: c.Command) -> list[tuple[str, c.Ref]]:
    return [
        (f.name, v)
        for f in dataclasses.fields(command)  # type: ignore[arg-type]
        if isinstance(v := getattr(command, f.name), c.Ref)
    ]


async def _checked(
    app: Ownit, spoken: Spoken, origin: Origin, parse: Parse
) -> tuple[c.Command, str]:
    """The command the model read, held to the grammar, the directory and the access rules as
    if typed: its words (names as handles, the case spelled out) and the typed command."""
    text = words(spoken, case=origin.case)
    command = parse(text)
    if not proposable(command):
        raise Refusal(sentence("words_not_proposable"), c.usage())
    async with app.db.session() as s:
        actor = await identify(s, origin)
        names: dict[str, str] = {}
        for _field, ref in _refs(command):
            found = await resolve(s, ref, platform=origin.directory_platform)
            names[_field] = found.handle if isinstance(found, Person) else found.key
        await access.authorize(session=s, actor=actor, need=need_of(command, origin))
    case = getattr(command, "case", None) or origin.case
    who = next(iter(names.values()), None)
    spelled = spoken.model_copy(update={"who": who or spoken.who, "case": case})
    text = words(spelled, case=case)
    return parse(text), text


async def propose(
    app: Ownit,
    text: str,
    origin: Origin,
    *,
    key: str | None,
    parse: Parse,
    refused: c.UsageError,
    now: datetime | None = None,
) -> Reply:
    """The answer to plain words: a proposed command, or why there is none."""
    model = app.assist
    if model is None or not model.on:
        return await _not_understood(app, refused, origin)
    now = now or await app.clock.now()
    private: list[str] = []  # the thread's customer, kept out of the prompt (when redacting)
    try:
        async with app.db.session() as s:  # only people of the organisation reach the model
            await identify(s, origin)
            if origin.case:
                with contextlib.suppress(Refusal):
                    private.append((await get_case(s, origin.case)).customer)
    except Refusal as exc:
        return refusal(exc.message, exc.usage)
    spoken = await model.structured(
        feature="plain_words",
        prompt="plain_words",
        variables={
            "words": c.words(text),
            "case": origin.case or "none",
            "directory": await _directory(app),
        },
        schema=Spoken,
        now=now,
        private=private,
    )
    if spoken is None:
        return await _not_understood(app, refused, origin)
    if spoken.verb == "none":
        why = " ".join((spoken.why_not or "").split())[:300] or sentence("words_no_reason")
        return refusal(sentence("words_unmappable", why=why), c.usage())
    try:
        command, shown = await _checked(app, spoken, origin, parse)
    except c.UsageError as exc:
        return refusal(exc.message, exc.usage)
    except Refusal as exc:
        return refusal(exc.message, exc.usage)

    def message(numbers: list[int]) -> Message:
        (number,) = numbers
        return Message(
            "proposal",
            compose("words_proposal", command=Code(f"/case {shown}"), number=number),
            case=getattr(command, "case", None),
            actions=(
                confirm_button(number, sentence("words_confirm")),
                dataclasses.replace(
                    edit_button(number, sentence("words_edit")), value=f"/case {shown}"
                ),
            ),
            private=True,
        )

    return await keep_proposals(
        app, origin, key=key, now=now, commands=[(command, shown)], build=message
    )
