"""The commands about a case — open, ask, promise, status, mine, update, updated, resolve,
reopen, transfer, rate — as plain dataclasses, and the parsers that read them from `Args`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from bot.commands.words import (
    CASE_KEY,
    MAX_CUSTOMER,
    MAX_TEXT,
    REQUEST_KEY,
    Args,
    collapse,
    show,
    tokens,
)
from bot.directory import Ref
from bot.messages import sentence

_PRIORITY = re.compile(r"[pP]([1-4])")
_BY = re.compile(r"(?<!\S)by(?=\s)", re.IGNORECASE)
_PROMISE = re.compile(r"(?<!\S)promise(?=\s)", re.IGNORECASE)


@dataclass(frozen=True)
class Open:
    customer: str
    summary: str
    promise: str | None
    priority: str | None


@dataclass(frozen=True)
class OpenForm:
    pass


@dataclass(frozen=True)
class Ask:
    """`unnamed`: when the target is a bare word (not a mention or `@handle`), the question as it
    reads if that word names nobody — `/case ask C-42 was it charged twice?` names no one, and
    ownit then suggests whom to ask (`bot.commands.who_to_ask`)."""

    case: str | None
    target: Ref
    question: str
    by: str | None
    unnamed: str | None = field(default=None, compare=False)  # a reading, not the command


@dataclass(frozen=True)
class Promise:
    """`when` as typed, or `at`, the instant a "move the promise" button offered (computed by
    ownit, carried as it is)."""

    case: str
    when: str | None
    what: str | None
    kept: bool = False
    at: datetime | None = None


@dataclass(frozen=True)
class Status:
    case: str


@dataclass(frozen=True)
class Mine:
    pass


@dataclass(frozen=True)
class Update:
    case: str


@dataclass(frozen=True)
class Updated:
    """The customer was sent an update (the draft's "Log as sent"), with what was sent."""

    case: str
    text: str | None


@dataclass(frozen=True)
class Resolve:
    case: str
    note: str | None


@dataclass(frozen=True)
class Reopen:
    case: str


@dataclass(frozen=True)
class Transfer:
    case: str
    to: Ref
    reason: str


@dataclass(frozen=True)
class Rate:
    case: str
    score: int
    comment: str | None


def parse_open(c: Args) -> Open | OpenForm:
    if not c.toks:
        return OpenForm()
    example = sentence("cmd_open_example")
    colon = c.rest.find(":")
    if colon < 0:
        raise c.error("cmd_open_no_colon", example=example)
    customer = c.decode(collapse(c.rest[:colon]))
    if not customer:
        raise c.error("cmd_open_no_customer", example=example)
    if len(customer) > MAX_CUSTOMER:
        raise c.error("cmd_customer_too_long", length=len(customer), limit=MAX_CUSTOMER)
    body = c.rest[colon + 1 :]
    priority = _trailing_priority(body)
    if priority is not None:
        body = body[: priority[1]]
    promise: str | None = None
    for m in reversed(list(_PROMISE.finditer(body))):
        when = c.when(body[m.end() :])
        if c.fits_when(when):
            promise, body = when, body[: m.start()]
            break
    if priority is None and promise is not None:
        priority = _trailing_priority(body)
        if priority is not None:
            body = body[: priority[1]]
    summary = c.need_text(body, "summary", "cmd_open_no_summary", example=example)
    return Open(customer, summary, promise, priority[0] if priority else None)


def _trailing_priority(s: str) -> tuple[str, int] | None:
    """The priority token ending `s` ("P1".."P4") and where it starts."""
    toks = tokens(s)
    if toks and (m := _PRIORITY.fullmatch(toks[-1].text)):
        return f"P{m.group(1)}", toks[-1].start
    return None


def parse_ask(c: Args) -> Ask:
    if not c.toks:
        raise c.error("cmd_ask_empty")
    i, case = 0, None
    first = c.toks[0].text
    if REQUEST_KEY.fullmatch(first):
        raise c.error("cmd_ask_not_a_case", token=show(first))
    if CASE_KEY.fullmatch(first):
        case, i = c.case_key(0), 1
    target = c.target(i)
    raw = c.after(i)
    by: str | None = None
    for m in reversed(list(_BY.finditer(raw))):
        when = c.when(raw[m.end() :])
        if c.fits_when(when):
            by, raw = when, raw[: m.start()]
            break
    word = c.toks[i]
    unnamed: str | None = None
    if target.kind == "name" and not word.text.startswith("@"):
        whole = c.decode(c.rest[word.start : word.end] + raw).strip()
        unnamed = whole if len(whole) <= MAX_TEXT else None
    question = c.need_text(raw, "question", "cmd_ask_no_question")
    return Ask(case, target, question, by, unnamed)


def parse_promise(c: Args) -> Promise:
    case = c.case_key(0)
    if len(c.toks) == 1:
        raise c.error("cmd_promise_no_time")
    if len(c.toks) == 2 and c.toks[1].text.lower() == "kept":
        return Promise(case, None, None, kept=True)
    when, last = c.longest_when(1, 5)
    return Promise(case, when, c.text(c.after(last), "promise text"))


def parse_status(c: Args) -> Status:
    case = c.case_key(0)
    c.no_more(1, "cmd_only_a_case_key")
    return Status(case)


def parse_update(c: Args) -> Update:
    case = c.case_key(0)
    c.no_more(1, "cmd_only_a_case_key")
    return Update(case)


def parse_updated(c: Args) -> Updated:
    return Updated(c.case_key(0), c.text(c.after(0), "update"))


def parse_reopen(c: Args) -> Reopen:
    case = c.case_key(0)
    c.no_more(1, "cmd_only_a_case_key")
    return Reopen(case)


def parse_mine(c: Args) -> Mine:
    c.no_more(0, "cmd_nothing_more")
    return Mine()


def parse_resolve(c: Args) -> Resolve:
    return Resolve(c.case_key(0), c.text(c.after(0), "note"))


def parse_transfer(c: Args) -> Transfer:
    case = c.case_key(0)
    to = c.target(1, person_only=True)
    reason = c.need_text(c.after(1), "reason", "cmd_transfer_no_reason")
    return Transfer(case, to, reason)


def parse_rate(c: Args) -> Rate:
    case = c.case_key(0)
    if len(c.toks) < 2:
        raise c.error("cmd_rate_no_score")
    raw = c.toks[1].text
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= int(raw) <= 5:
        raise c.error("cmd_rate_bad_score", token=show(raw))
    return Rate(case, int(raw), c.text(c.after(1), "comment"))
