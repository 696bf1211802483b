"""Who to ask: `/case ask C-42 <question>` naming nobody suggests up to three people or teams,
each with a line on why, and the owner picks one (each pick a proposal: `/case confirm N`).

The candidates come from the plain search (`bot.requests.suggesting`); with a model, it only
ranks them and words the reasons — a name it gives that is not a candidate is dropped, a reason
with a number in it is replaced by the computed one, and any failure leaves the plain ranking.
The question is read only for the asker's own case: the need is `ask`'s, checked first.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import BaseModel

from bot import access
from bot.cases import require_open
from bot.commands import grammar as c
from bot.commands.identity import identify
from bot.commands.needs import need_of
from bot.commands.origin import Origin
from bot.commands.proposing import confirm_button, keep_proposals
from bot.commands.reply import Reply, refusal
from bot.commands.spoken import Spoken, words
from bot.deadlines import looks_like_deadline
from bot.directory import calendar_of, mention, normalise_handle, person_by_handle, team_by_key
from bot.errors import Refusal
from bot.messages import Code, Message, Segment, Strong, compose, join, sentence
from bot.requests.suggesting import Candidate, candidates
from bot.runtime.app import Ownit

log = logging.getLogger(__name__)

SHOWN = 3  # suggestions shown at most
MAX_REASON = 200  # characters of a reason the model words


class Pick(BaseModel):
    """One suggestion as the model ranks it: a candidate's handle and a line on why."""

    who: str
    reason: str


class Picks(BaseModel):
    picks: list[Pick]


async def names_nobody(app: Ownit, command: c.Ask) -> bool:
    """Whether an `ask` names no one: its target is a bare word that is neither a person's handle
    nor a team's key (`@someone` unknown is still an error, as before)."""
    if command.unnamed is None:
        return False
    name = normalise_handle(command.target.value)
    async with app.db.reader() as s:
        return await person_by_handle(s, name) is None and await team_by_key(s, name) is None


def _reason(text: str) -> str | None:
    """A model's reason, if fit to show: one short line, and no numbers or dates (those are
    computed in code, never written by a model)."""
    text = " ".join(text.split())
    if not text or len(text) > MAX_REASON or any(ch.isdigit() for ch in text):
        return None
    return text


async def _ranked(
    app: Ownit, found: list[Candidate], question: str, *, customer: str, tz: str, now: datetime
) -> list[tuple[Candidate, str]] | None:
    """The model's choice among `found` (None: no model, or nothing usable came back)."""
    model = app.assist
    if model is None or not model.on:
        return None
    listing = [
        {
            "who": f.handle,
            "name": f.name,
            "kind": "team" if f.team is not None else "person",
            "facts": f.reason(tz, now),
        }
        for f in found
    ]
    answer = await model.structured(
        feature="who_to_ask",
        prompt="who_to_ask",
        variables={"question": question, "candidates": listing},
        schema=Picks,
        now=now,
        private=[customer],
    )
    if answer is None:
        return None
    by_handle = {f.handle: f for f in found}
    chosen: list[tuple[Candidate, str]] = []
    for pick in answer.picks:
        cand = by_handle.get(normalise_handle(pick.who))
        if cand is None:
            log.warning("the model named %r, who is not a candidate: dropped", pick.who[:80])
            continue
        if any(cand is had for had, _ in chosen):
            continue
        chosen.append((cand, _reason(pick.reason) or cand.reason(tz, now)))
    return chosen[:SHOWN] or None


async def suggest(app: Ownit, command: c.Ask, origin: Origin, *, key: str | None) -> Reply:
    """The suggestions for an `ask` that names nobody, as proposals the asker confirms."""
    question = command.unnamed or command.question
    word = normalise_handle(command.target.value)
    now = await app.clock.now()
    rules = await app.rules()
    try:
        async with app.db.session() as s:
            actor = await identify(s, origin)
            grant = await access.authorize(session=s, actor=actor, need=need_of(command, origin))
            case = grant.case
            assert case is not None
            require_open(case)
            found = await candidates(s, question=question, asker=actor)
    except Refusal as exc:
        return refusal(exc.message, exc.usage)
    if not found:
        return refusal(sentence("who_nobody_found", word=word), c.usage("ask"))
    tz = calendar_of(actor, rules.calendar).tz
    chosen = await _ranked(app, found, question, customer=case.customer, tz=tz, now=now)
    if chosen is None:
        chosen = [(f, f.reason(tz, now)) for f in found[:SHOWN]]
    proposed: list[tuple[c.Command, str, Candidate, str]] = []
    for cand, reason in chosen:
        spoken = Spoken(
            verb="ask",
            case=case.key,
            request=None,
            who=cand.handle,
            text=question,
            when=command.by,
            why_not=None,
        )
        text = words(spoken)
        try:
            proposed.append((c.parse(text, is_when=looks_like_deadline), text, cand, reason))
        except c.UsageError as exc:
            return refusal(exc.message, exc.usage)

    def message(numbers: list[int]) -> Message:
        lines: list[tuple[Segment, ...] | Segment] = [
            compose("who_header", word=word, case_key=case.key)
        ]
        actions = []
        for n, (number, (_cmd, text, cand, reason)) in enumerate(
            zip(numbers, proposed, strict=True), 1
        ):
            who: Segment = mention(cand.person) if cand.person else Strong(cand.name)
            lines.append(
                compose("who_line", n=n, who=who, reason=reason, command=Code(f"/case {text}"))
            )
            actions.append(confirm_button(number, sentence("who_ask_button", name=cand.name)))
        return Message(
            "who_to_ask",
            join(*lines, sep="\n"),
            case=case.key,
            actions=tuple(actions),
            private=True,
        )

    return await keep_proposals(
        app,
        origin,
        key=key,
        now=now,
        commands=[(cmd, text) for cmd, text, _, _ in proposed],
        build=message,
        case=case.key,
    )
