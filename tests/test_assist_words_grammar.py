"""What the model answers is held to the one grammar: any fields give either the command they
say (its words parse back to it) or the grammar's own refusal — never anything else."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import grammar as c
from bot.commands import proposals
from bot.commands.spoken import Spoken, words
from bot.deadlines import looks_like_deadline
from bot.errors import Refusal

VERBS = [v for v in Spoken.model_fields["verb"].annotation.__args__ if v != "none"]  # type: ignore[union-attr]
texts = st.one_of(
    st.none(), st.text(max_size=60), st.sampled_from(["resolve C-1", "by eod", "admin x"])
)
KINDS: dict[str, type[Any]] = {
    "ask": c.Ask,
    "promise": c.Promise,
    "status": c.Status,
    "update": c.Update,
    "resolve": c.Resolve,
    "reopen": c.Reopen,
    "transfer": c.Transfer,
    "ack": c.Ack,
    "answer": c.Answer,
    "more-time": c.MoreTime,
    "redirect": c.Redirect,
    "mine": c.Mine,
    "away": c.Away,
}


def parse(text: str) -> c.Command:
    return c.parse(text, is_when=looks_like_deadline)


@settings(max_examples=400, deadline=None)
@given(
    verb=st.sampled_from(VERBS),
    case=st.one_of(st.none(), st.sampled_from(["C-1", "c7", "C-", "R-2", "x y"])),
    request=st.one_of(st.none(), st.sampled_from(["R-3", "r9", "C-1"])),
    who=st.one_of(st.none(), st.sampled_from(["dana", "@billing", "<@U1>", "@here", "a b"])),
    text=texts,
    when=st.one_of(st.none(), st.sampled_from(["tomorrow 12:00", "4h", "eod", "someday", ""])),
)
def test_any_fields_give_a_command_or_the_grammars_refusal(**fields: Any) -> None:
    spoken = Spoken(**fields, why_not=None)
    try:
        text = words(spoken)
        command = parse(text)
    except (c.UsageError, Refusal):
        return
    assert isinstance(command, KINDS[spoken.verb])  # no text can make it another command
    if spoken.case == "C-1" and hasattr(command, "case"):
        assert command.case == "C-1"
    if proposals.proposable(command):
        assert proposals.decode(proposals.encode(command)) == command


@pytest.mark.parametrize(
    ("fields", "typed"),
    [
        (
            {"verb": "ask", "case": "C-4", "who": "billing", "text": "was it sent?", "when": "eod"},
            c.Ask("C-4", c.Ref("name", "billing"), "was it sent?", "eod"),
        ),
        (
            {"verb": "promise", "case": "C-4", "when": "fri 15:00", "text": "a refund"},
            c.Promise("C-4", "fri 15:00", "a refund"),
        ),
        (
            {"verb": "more-time", "request": "R-2", "when": "tomorrow 12:00", "text": "audit"},
            c.MoreTime("R-2", "tomorrow 12:00", "audit"),
        ),
        (
            {"verb": "away", "when": "monday 9:00", "who": "bo"},
            c.Away("monday 9:00", c.Ref("name", "bo")),
        ),
        ({"verb": "status", "case": None}, c.Status("C-9")),  # the thread's case
    ],
)
def test_fields_are_the_command_they_say(fields: dict[str, Any], typed: c.Command) -> None:
    full = dict.fromkeys(("case", "request", "who", "text", "when", "why_not")) | fields
    assert parse(words(Spoken.model_validate(full), case="C-9")) == typed


def test_someone_elses_proposal_is_not_decoded_from_junk() -> None:
    for junk in ({}, {"type": "Confirm", "fields": {"proposal": 1}}, {"type": "Ask", "fields": 1}):
        with pytest.raises(ValueError):
            proposals.decode(junk)
    with pytest.raises(ValueError):
        proposals.encode(c.Confirm(3))


@pytest.mark.parametrize(
    ("typed", "plain", "read"),
    [
        ("<@UBOT> could you ask @dana about it", True, "could you ask @dana about it"),
        ("@dana can you check the refund", True, "@dana can you check the refund"),
        ("<at>ownit</at> please ask billing", True, "please ask billing"),
        ("<@UBOT> ask billing is it sent?", False, "ask billing is it sent?"),
        ("/case frobnicate", False, "frobnicate"),
        ("more time R-1 fri because", False, "more time R-1 fri because"),
        ("<@UBOT>", False, ""),
    ],
)
def test_plain_words_are_told_from_commands(typed: str, plain: bool, read: str) -> None:
    from bot.commands.plain_words import is_plain

    assert is_plain(typed) is plain
    assert c.words(typed) == read  # what the model would read: only the bot's address dropped
