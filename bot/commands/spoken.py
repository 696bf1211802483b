"""A command as a language model reads it from plain words, and its `/case` words.

The model answers a `Spoken` (structured output, validated by pydantic); `words` writes it out
as the text a person would type, which the one grammar then parses — so what the model proposes
is held to exactly the rules typed commands are, and refused with the grammar's own message.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from bot.errors import Refusal
from bot.messages import sentence

Verb = Literal[
    "ask",
    "promise",
    "status",
    "update",
    "resolve",
    "reopen",
    "transfer",
    "ack",
    "answer",
    "more-time",
    "redirect",
    "mine",
    "away",
    "none",
]


class Spoken(BaseModel):
    """One command read from plain words; `verb` "none" when they are no command (`why_not`)."""

    verb: Verb
    case: str | None = Field(description="the case key, like C-42, or null")
    request: str | None = Field(description="the request key, like R-7, or null")
    who: str | None = Field(description="a handle or team key from the directory, or null")
    text: str | None = Field(description="the question, note, reason or answer, or null")
    when: str | None = Field(description="the time words, like 'tomorrow 12:00' or '4h', or null")
    why_not: str | None = Field(description="with verb none: why this is no command")


def _one(value: str | None, what: str) -> str | None:
    """A key or a name is one word: several would be read as the start of the text."""
    value = (value or "").strip()
    if not value:
        return None
    if len(value.split()) > 1:
        raise Refusal(sentence("words_not_one_word", what=what, value=value[:40]))
    return value


def _who(value: str | None) -> str | None:
    who = _one(value, "person or team")
    if who is None or who.startswith("<"):  # a platform's mention, as the person wrote it
        return who
    return "@" + who.lstrip("@")


def words(s: Spoken, *, case: str | None = None) -> str:
    """The command's words after `/case`; `case` is the thread's case when the model gave none."""
    key = _one(s.case, "case key") or case
    request = _one(s.request, "request key")
    who = _who(s.who)
    text = (s.text or "").strip() or None
    when = " ".join((s.when or "").split()) or None
    match s.verb:
        case "ask":
            parts = ["ask", key, who, text, f"by {when}" if when else None]
        case "promise":
            parts = ["promise", key, when, text]
        case "status" | "update" | "reopen":
            parts = [s.verb, key]
        case "resolve":
            parts = ["resolve", key, text]
        case "transfer":
            parts = ["transfer", key, who, text]
        case "ack":
            parts = ["ack", request, f"eta {when}" if when else None]
        case "answer":
            parts = ["answer", request, text]
        case "more-time":
            parts = ["more-time", request, when, text]
        case "redirect":
            parts = ["redirect", request, who, text]
        case "mine":
            parts = ["mine"]
        case "away":
            parts = ["away", f"until {when}" if when else None, f"backup {who}" if who else None]
        case _:
            raise ValueError("no command")
    return " ".join(p for p in parts if p)
