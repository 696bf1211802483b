"""The `/case …` grammar, parsed once into plain dataclasses for every platform.

Slack slash commands, Slack mentions and Teams messages all carry the same words; parsing them here
keeps the platforms' handlers thin and gives every malformed command the same short, specific
usage message (a `UsageError`) before anything is written. This module finds the command word and
hands the rest to the parser of that command (`case_grammar`, `request_grammar`,
`admin_grammar`); it is also the one place to import the command types from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from bot.admin.commands import AdminCommand
from bot.commands.admin_grammar import parse_admin
from bot.commands.case_grammar import (
    Ask,
    Mine,
    Open,
    OpenForm,
    Promise,
    Rate,
    Reopen,
    Resolve,
    Status,
    Transfer,
    Update,
    Updated,
    parse_ask,
    parse_mine,
    parse_open,
    parse_promise,
    parse_rate,
    parse_reopen,
    parse_resolve,
    parse_status,
    parse_transfer,
    parse_update,
    parse_updated,
)
from bot.commands.proposal_grammar import Confirm, parse_confirm
from bot.commands.request_grammar import (
    Ack,
    Answer,
    Away,
    Deadline,
    Decide,
    Digest,
    MoreTime,
    Redirect,
    parse_accept,
    parse_ack,
    parse_answer,
    parse_away,
    parse_back,
    parse_deadline,
    parse_decline,
    parse_digest,
    parse_more_time,
    parse_redirect,
)
from bot.commands.usage import TOPIC_ALIASES, TOPICS, canonical, usage
from bot.commands.words import (
    MAX_CUSTOMER,
    MAX_HANDLE,
    MAX_INPUT,
    MAX_SLACK_ID,
    MAX_TEXT,
    Args,
    UsageError,
    parse_ref,
)
from bot.commands.words import show as _show
from bot.commands.words import tokens as _tokens
from bot.directory import Ref
from bot.messages import sentence

__all__ = [
    "MAX_CUSTOMER",
    "MAX_HANDLE",
    "MAX_SLACK_ID",
    "MAX_TEXT",
    "Ack",
    "AdminCommand",
    "Answer",
    "Ask",
    "Away",
    "Command",
    "Confirm",
    "Deadline",
    "Decide",
    "Digest",
    "Help",
    "Mine",
    "MoreTime",
    "Open",
    "OpenForm",
    "Promise",
    "Rate",
    "Redirect",
    "Ref",
    "Reopen",
    "Resolve",
    "Status",
    "Transfer",
    "Update",
    "Updated",
    "UsageError",
    "names_a_command",
    "parse",
    "parse_ref",
    "usage",
    "words",
]


@dataclass(frozen=True)
class Help:
    topic: str | None


Command: TypeAlias = (
    Open
    | OpenForm
    | Ask
    | Promise
    | Status
    | Mine
    | Update
    | Updated
    | Resolve
    | Reopen
    | Transfer
    | Ack
    | Answer
    | MoreTime
    | Decide
    | Deadline
    | Redirect
    | Away
    | Digest
    | Rate
    | Confirm
    | AdminCommand
    | Help
)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NEWLINES = re.compile(r"\r\n?")
_PREFIX = re.compile(
    r"\s*(?:/case|case|<@[^<>\n]*>|<at>[^<]*</at>|@[\w.\-]+)(?=\s|$)", re.IGNORECASE
)


def _help(c: Args) -> Help:
    words = [t.text for t in c.toks]
    if words and words[0].lower() in ("/case", "case"):
        words = words[1:]
    if not words:
        return Help(None)
    topic = canonical(" ".join(words))
    if topic not in TOPICS:
        raise UsageError(sentence("cmd_unknown", word=_show(" ".join(words))), usage())
    return Help(topic)


_PARSERS: dict[str, Callable[[Args], Command]] = {
    "open": parse_open,
    "ask": parse_ask,
    "promise": parse_promise,
    "status": parse_status,
    "mine": parse_mine,
    "update": parse_update,
    "updated": parse_updated,
    "resolve": parse_resolve,
    "reopen": parse_reopen,
    "transfer": parse_transfer,
    "ack": parse_ack,
    "answer": parse_answer,
    "more-time": parse_more_time,
    "accept": parse_accept,
    "decline": parse_decline,
    "deadline": parse_deadline,
    "redirect": parse_redirect,
    "away": parse_away,
    "back": parse_back,
    "digest": parse_digest,
    "rate": parse_rate,
    "confirm": parse_confirm,
    "admin": parse_admin,
    "help": _help,
}


def _clean(text: str) -> str:
    """Line ends to `\\n`; control characters (but newline and tab) and bidi overrides dropped."""
    return _CONTROL.sub("", _NEWLINES.sub("\n", text))


def _strip_prefix(s: str) -> str:
    """Drop a leading `/case`, `case` and bot mention (`<@U0BOT>`, `@ownit`, Teams `<at>…</at>`)."""
    for _ in range(4):
        m = _PREFIX.match(s)
        if m is None:
            break
        s = s[m.end() :]
    return s


def _command_word(s: str) -> str:
    toks = _tokens(s, 2)
    if not toks:
        return ""
    word = toks[0].text.lower()
    if word == "more" and len(toks) > 1 and toks[1].text.lower() == "time":
        return "more-time"
    return TOPIC_ALIASES.get(word, word) if word != "back" else word


_ADDRESS = re.compile(
    r"\s*(?:(?:<@[^<>\n]*>|<at>[^<]*</at>)(?=\s|$))?\s*(?:(?:/case|case)(?=\s|$))?", re.I
)


def words(text: str) -> str:
    """What a person wrote to ownit, without the platform's mention of the bot and `/case` in
    front (control characters dropped as `parse` drops them): the plain words a model may read.
    A colleague's `@handle` at the start stays: it is part of what they asked."""
    cleaned = _clean(text)
    address = _ADDRESS.match(cleaned)
    return cleaned[address.end() if address else 0 :].strip()


def names_a_command(text: str) -> bool:
    """Whether `text` starts like a command (`/case …`, or a command word after the mention):
    words that don't are plain words, which ownit may turn into a proposed command."""
    cleaned = _clean(text).lstrip()
    if cleaned.startswith("/"):
        return True
    word = _command_word(_strip_prefix(cleaned))
    return word in _PARSERS or word == "?"


def parse(text: str, *, is_when: Callable[[str], bool], slack_entities: bool = False) -> Command:
    """Parse the text of a `/case` command (what follows `/case`) into a Command.

    `is_when(phrase)` says whether a phrase is a time the deadline parser understands; time
    phrases are returned as written (whitespace collapsed), not parsed. With `slack_entities`,
    Slack's `&amp;` `&lt;` `&gt;` are decoded in free text and time phrases (mention markup is
    still recognised before decoding). Raises UsageError for anything malformed.
    """
    if len(text) > MAX_INPUT:
        raise UsageError(sentence("cmd_input_too_long", length=len(text), limit=MAX_INPUT), usage())
    s = _strip_prefix(_clean(text))
    toks = _tokens(s, 2)  # the command word (two for `more time`)
    if not toks or (len(toks) == 1 and toks[0].text == "?"):
        return Help(None)
    word = _command_word(s)
    end = toks[1].end if word == "more-time" and toks[0].text.lower() == "more" else toks[0].end
    parser = _PARSERS.get(word)
    if parser is None:
        raise UsageError(sentence("cmd_unknown", word=_show(toks[0].text)), usage())
    return parser(Args(word, s[end:], is_when, slack_entities))
