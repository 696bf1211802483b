"""The commands about a request — ack, answer, more-time, accept, decline, deadline, redirect —
and about oneself or one's team — away, back, digest — as dataclasses, with their parsers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.commands.words import Args, parse_ref, show
from bot.directory import Ref


@dataclass(frozen=True)
class Ack:
    request: str
    eta: str | None


@dataclass(frozen=True)
class Answer:
    request: str
    text: str


@dataclass(frozen=True)
class MoreTime:
    request: str
    when: str
    reason: str


@dataclass(frozen=True)
class Decide:
    request: str
    accept: bool
    note: str | None


@dataclass(frozen=True)
class Deadline:
    """A request's new deadline: `when` as typed (`deadline R-7 fri 3pm`), or `at`, the instant a
    button offered, carried as it is so that no time ownit wrote out is read back as words."""

    request: str
    when: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class Redirect:
    request: str
    to: Ref
    reason: str


@dataclass(frozen=True)
class Away:
    until: str | None
    backup: Ref | None


@dataclass(frozen=True)
class Digest:
    team: str | None


def parse_ack(c: Args) -> Ack:
    request = c.request_key(0)
    if len(c.toks) == 1:
        return Ack(request, None)
    if c.toks[1].text.lower() == "eta":
        return Ack(request, c.check_when(c.after(1)))
    when = c.when(c.after(0))
    if c.fits_when(when):
        return Ack(request, when)
    raise c.error("cmd_ack_only_eta", token=show(when))


def parse_answer(c: Args) -> Answer:
    request = c.request_key(0)
    text = c.need_text(c.after(0), "answer", "cmd_answer_empty")
    return Answer(request, text)


def parse_more_time(c: Args) -> MoreTime:
    request = c.request_key(0)
    if len(c.toks) == 1:
        raise c.error("cmd_more_time_empty")
    when, last = c.longest_when(1, 4)
    reason = c.need_text(c.after(last), "reason", "cmd_more_time_no_reason")
    return MoreTime(request, when, reason)


def parse_accept(c: Args) -> Decide:
    return Decide(c.request_key(0), True, c.text(c.after(0), "note"))


def parse_decline(c: Args) -> Decide:
    return Decide(c.request_key(0), False, c.text(c.after(0), "note"))


def parse_deadline(c: Args) -> Deadline:
    request = c.request_key(0)
    return Deadline(request, c.check_when(c.after(0)))


def parse_redirect(c: Args) -> Redirect:
    request = c.request_key(0)
    to = c.target(1)
    reason = c.need_text(c.after(1), "reason", "cmd_redirect_no_reason")
    return Redirect(request, to, reason)


def parse_away(c: Args) -> Away:
    toks = c.toks
    if len(toks) == 1 and toks[0].text.lower() == "off":
        return Away(None, None)
    start = 1 if toks and toks[0].text.lower() == "until" else 0
    if start >= len(toks):
        raise c.error("cmd_away_no_time")
    end, backup = len(toks), None
    for i in range(len(toks) - 1, start - 1, -1):
        if toks[i].text.lower() == "backup":
            if i != len(toks) - 2:
                raise c.error("cmd_away_one_backup")
            backup, end = c.target(i + 1), i
            break
    if end == start:
        raise c.error("cmd_away_no_time")
    return Away(c.check_when(c.rest[toks[start].start : toks[end - 1].end]), backup)


def parse_back(c: Args) -> Away:
    c.no_more(0, "cmd_nothing_more")
    return Away(None, None)


def parse_digest(c: Args) -> Digest:
    if not c.toks:
        return Digest(None)
    c.no_more(1, "cmd_at_most_one_team")
    raw = c.toks[0].text
    ref = parse_ref(raw)
    if ref is None or ref.kind == "user":
        raise c.error("cmd_digest_not_a_team", token=show(raw))
    return Digest(ref.value if ref.kind == "name" else raw)
