"""The `/case …` grammar, parsed once into plain dataclasses for every platform.

Slack slash commands, Slack mentions and Teams messages all carry the same words; parsing them here
keeps the platforms' handlers thin and gives every malformed command the same short, specific
usage message (a `UsageError`) before anything is written. Time phrases are not parsed here: the
caller passes `is_when`, so this module stays independent of the business-time code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Literal, NamedTuple, TypeAlias

__all__ = [
    "MAX_CUSTOMER",
    "MAX_TEXT",
    "Ack",
    "Admin",
    "Answer",
    "Ask",
    "Away",
    "Command",
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
    "UsageError",
    "parse",
    "parse_ref",
    "usage",
]

MAX_TEXT = 3000  # free text: questions, answers, summaries, reasons, notes
MAX_CUSTOMER = 200
MAX_INPUT = 10_000  # the whole command; bounds the work done on hostile input


class UsageError(ValueError):
    """A malformed command: `message` says what is wrong, `usage` is the command's usage line(s)."""

    def __init__(self, message: str, usage: str = ""):
        super().__init__(message)
        self.message = message
        self.usage = usage


@dataclass(frozen=True)
class Ref:
    """Someone or some team named in a command, not yet resolved against the directory."""

    kind: Literal["user", "team", "name"]
    value: str
    label: str | None = None


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
    case: str | None
    target: Ref
    question: str
    by: str | None


@dataclass(frozen=True)
class Promise:
    case: str
    when: str | None
    what: str | None
    kept: bool = False


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
    request: str
    when: str


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


@dataclass(frozen=True)
class Rate:
    case: str
    score: int
    comment: str | None


@dataclass(frozen=True)
class Admin:
    verb: str
    args: tuple[str, ...]


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
    | Admin
    | Help
)

# --------------------------------------------------------------------------- usage text

_USAGE: tuple[tuple[str, str], ...] = (
    (
        "open",
        "/case open <customer>: <summary> [promise <when>] [p1-p4] — open a case; "
        "`/case open` alone opens a form",
    ),
    (
        "ask",
        "/case ask <case> <@person or team> <question> [by <when>] — ask a colleague; "
        "in a case thread the key is optional",
    ),
    (
        "promise",
        "/case promise <case> <when> [what was promised] — record or change the promise "
        "to the customer",
    ),
    ("promise", "/case promise <case> kept — the promise was kept"),
    ("status", "/case status <case> — the case, its requests and its timeline"),
    ("mine", "/case mine — my open cases, and what is asked of me"),
    ("update", "/case update <case> — draft an update for the customer"),
    ("resolve", "/case resolve <case> [note] — resolve the case"),
    ("reopen", "/case reopen <case> — reopen the case"),
    ("transfer", "/case transfer <case> <@person> <reason> — make someone else the owner"),
    ("ack", "/case ack <request> [eta <when>] — acknowledge a request, optionally with your ETA"),
    ("answer", "/case answer <request> <text> — answer a request"),
    ("more-time", "/case more-time <request> <when> <reason> — ask the owner for a later deadline"),
    ("accept", "/case accept <request> — grant a colleague's ask for more time"),
    ("decline", "/case decline <request> [note] — refuse a colleague's ask for more time"),
    ("deadline", "/case deadline <request> <when> — change a request's deadline"),
    ("redirect", "/case redirect <request> <@person or team> <reason> — hand a request on"),
    ("away", "/case away until <when> [backup <@person>] — mark yourself away"),
    ("away", "/case away off — you are back (same as `/case back`)"),
    ("digest", "/case digest [team] — a manager's digest"),
    ("rate", "/case rate <case> <1-5> [comment] — record the customer's satisfaction"),
    ("admin", "/case admin <verb> … — teams, managers, calendars, policies (admins)"),
    ("help", "/case help [command] — all commands, or one command's usage"),
)

_TOPIC_ALIASES = {"back": "away", "moretime": "more-time", "more_time": "more-time"}
_TOPICS = frozenset(t for t, _ in _USAGE)


def usage(topic: str | None = None) -> str:
    """The help text: every command's usage line, or only `topic`'s (unknown topic: all)."""
    if topic is not None:
        key = _canonical(topic)
        lines = [line for t, line in _USAGE if t == key]
        if lines:
            return "\n".join(lines)
    return "\n".join(line for _, line in _USAGE)


def _canonical(word: str) -> str:
    word = " ".join(word.lower().split())
    if word == "more time":
        return "more-time"
    return _TOPIC_ALIASES.get(word, word)


# --------------------------------------------------------------------------- lexical helpers

# A token is a run of non-space characters; `<…>` markup (mentions) may contain spaces.
_TOKEN = re.compile(r"(?:<[^<>\n]*>|[^\s<]+|<)+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NEWLINES = re.compile(r"\r\n?")
_PREFIX = re.compile(
    r"\s*(?:/case|case|<@[^<>\n]*>|<at>[^<]*</at>|@[\w.\-]+)(?=\s|$)", re.IGNORECASE
)
_CASE_KEY = re.compile(r"[cC]-?([0-9]+)")
_REQUEST_KEY = re.compile(r"[rR]-?([0-9]+)")
_ANY_KEY = re.compile(r"[cCrR]-?[0-9]+")
_PRIORITY = re.compile(r"[pP]([1-4])")
_USER = re.compile(r"<@([^\s|<>]+)(?:\|([^<>]*))?>")
_TEAM = re.compile(r"<!subteam\^([^\s|<>]+)(?:\|([^<>]*))?>")
_HANDLE = re.compile(r"@?([\w.\-]+)")
_BROADCAST = frozenset({"@channel", "@here", "@everyone"})
_BY = re.compile(r"(?<!\S)by(?=\s)", re.IGNORECASE)
_PROMISE = re.compile(r"(?<!\S)promise(?=\s)", re.IGNORECASE)
_ENTITIES = re.compile(r"&(amp|lt|gt);")
_ENTITY_CHARS = {"amp": "&", "lt": "<", "gt": ">"}
_MAX_HANDLE = 80
_MAX_KEY_DIGITS = 9


class _Tok(NamedTuple):
    """A word of a command and where it sits (a tuple: commands are parsed on every request)."""

    text: str
    start: int
    end: int


def _tokens(s: str, limit: int | None = None) -> list[_Tok]:
    return [_Tok(m.group(), *m.span()) for m in islice(_TOKEN.finditer(s), limit)]


def _collapse(s: str) -> str:
    return " ".join(s.split())


def _show(token: str) -> str:
    """A user's token, made safe to quote inside backticks in an error message."""
    token = _collapse(token).replace("`", "'")
    return token if len(token) <= 40 else token[:39] + "…"


def parse_ref(token: str) -> Ref | None:
    """`<@U1|dana>`, `<!subteam^S1|@billing>`, `@dana` or `billing` as a `Ref`; else None."""
    if m := _USER.fullmatch(token):
        label = (m.group(2) or "").strip().lstrip("@") or None
        return Ref("user", m.group(1), label)
    if m := _TEAM.fullmatch(token):
        label = (m.group(2) or "").strip().lstrip("@") or None
        return Ref("team", m.group(1), label)
    if token.lower() in _BROADCAST:
        return None
    if (m := _HANDLE.fullmatch(token)) and len(m.group(1)) <= _MAX_HANDLE:
        handle = m.group(1)
        if any(c.isalnum() for c in handle):
            return Ref("name", handle)
    return None


def _key(raw: str, pattern: re.Pattern[str], prefix: str) -> str | None:
    m = pattern.fullmatch(raw)
    if m is None:
        return None
    digits = m.group(1).lstrip("0") or "0"
    if len(digits) > _MAX_KEY_DIGITS:
        return None
    return f"{prefix}-{digits}"


class _Ctx:
    """The arguments of one command: the text after its command word, and how to read it."""

    def __init__(
        self, cmd: str, rest: str, is_when: Callable[[str], bool], slack_entities: bool
    ) -> None:
        self.cmd = cmd
        self.rest = rest
        self.is_when = is_when
        self.slack_entities = slack_entities
        self.toks = _tokens(rest)

    def error(self, message: str) -> UsageError:
        return UsageError(message, usage(self.cmd))

    def after(self, i: int) -> str:
        """The raw text after token `i` (all of it when `i` is -1)."""
        return self.rest if i < 0 else self.rest[self.toks[i].end :]

    def decode(self, s: str) -> str:
        if not self.slack_entities:
            return s
        return _ENTITIES.sub(lambda m: _ENTITY_CHARS[m.group(1)], s)

    def text(self, raw: str, what: str) -> str | None:
        """Free text: trimmed ends, inner spacing kept, length-checked; None when empty."""
        value = self.decode(raw).strip()
        if len(value) > MAX_TEXT:
            raise self.error(
                f"The {what} is too long ({len(value)} characters; the limit is {MAX_TEXT})."
            )
        return value or None

    def need_text(self, raw: str, what: str, missing: str) -> str:
        """Required free text; `missing` is the message when there is none."""
        value = self.text(raw, what)
        if value is None:
            raise self.error(missing)
        return value

    def when(self, raw: str) -> str:
        return self.decode(_collapse(raw))

    def check_when(self, raw: str) -> str:
        """`raw` as a time phrase, or a UsageError saying it can't be read."""
        when = self.when(raw)
        if not when:
            raise self.error(f"`{self.cmd}` needs a time, like `tomorrow 17:00` or `4h`.")
        if len(when) > MAX_TEXT or not self.is_when(when):
            raise self.error(f"I can't read a time in `{_show(when)}`.")
        return when

    def longest_when(self, start: int, limit: int) -> tuple[str, int] | None:
        """The longest run of 1..`limit` tokens from `start` that is a time, and its last index."""
        stop = min(len(self.toks), start + limit)
        for end in range(stop, start, -1):
            when = self.decode(" ".join(t.text for t in self.toks[start:end]))
            if self.is_when(when):
                return when, end - 1
        return None

    def case_key(self, i: int) -> str:
        return self._key(i, _CASE_KEY, "C", "a case key like C-42")

    def request_key(self, i: int) -> str:
        return self._key(i, _REQUEST_KEY, "R", "a request key like R-7")

    def _key(self, i: int, pattern: re.Pattern[str], prefix: str, what: str) -> str:
        if i >= len(self.toks):
            raise self.error(f"`{self.cmd}` needs {what}.")
        raw = self.toks[i].text
        key = _key(raw, pattern, prefix)
        if key is None:
            raise self.error(f"`{self.cmd}` needs {what}, not `{_show(raw)}`.")
        return key

    def target(self, i: int, *, person_only: bool = False) -> Ref:
        whom = "a person" if person_only else "a person or team"
        example = "@dana" if person_only else "@dana or billing"
        if i >= len(self.toks):
            raise self.error(f"`{self.cmd}` needs {whom}, like {example}.")
        raw = self.toks[i].text
        token = raw.rstrip(",:")  # "@dana, can you…" / "<@U1>: …"
        if token.lower() in _BROADCAST or (
            token.startswith("<!") and _TEAM.fullmatch(token) is None
        ):
            raise self.error(f"I can't send this to a whole channel; name {whom}, like {example}.")
        ref = parse_ref(token)
        if ref is None or (ref.kind == "name" and _ANY_KEY.fullmatch(ref.value)):
            raise self.error(f"`{self.cmd}` needs {whom} here, like {example}, not `{_show(raw)}`.")
        if person_only and ref.kind == "team":
            raise self.error("A case has exactly one owner: name a person, not a team.")
        return ref

    def no_more(self, i: int, what: str) -> None:
        """Refuse tokens from index `i` on: `what` is what the command takes."""
        if i < len(self.toks):
            raise self.error(
                f"`{self.cmd}` takes {what}; I don't know what to do with "
                f"`{_show(self.after(i - 1))}`."
            )


# --------------------------------------------------------------------------- commands


def _open(c: _Ctx) -> Command:
    if not c.toks:
        return OpenForm()
    example = "like `/case open ACME: invoice is wrong promise tomorrow 17:00 p2`"
    colon = c.rest.find(":")
    if colon < 0:
        raise c.error(f"Put a colon after the customer's name, {example}.")
    customer = c.decode(_collapse(c.rest[:colon]))
    if not customer:
        raise c.error(f"Name the customer before the colon, {example}.")
    if len(customer) > MAX_CUSTOMER:
        raise c.error(
            f"The customer name is too long ({len(customer)} characters; "
            f"the limit is {MAX_CUSTOMER})."
        )
    body = c.rest[colon + 1 :]
    priority = _trailing_priority(body)
    if priority is not None:
        body = body[: priority[1]]
    promise: str | None = None
    for m in reversed(list(_PROMISE.finditer(body))):
        when = c.when(body[m.end() :])
        if when and len(when) <= MAX_TEXT and c.is_when(when):
            promise, body = when, body[: m.start()]
            break
    if priority is None and promise is not None:
        priority = _trailing_priority(body)
        if priority is not None:
            body = body[: priority[1]]
    summary = c.need_text(body, "summary", f"Say what the issue is after the colon, {example}.")
    return Open(customer, summary, promise, priority[0] if priority else None)


def _trailing_priority(s: str) -> tuple[str, int] | None:
    """The priority token ending `s` ("P1".."P4") and where it starts."""
    toks = _tokens(s)
    if toks and (m := _PRIORITY.fullmatch(toks[-1].text)):
        return f"P{m.group(1)}", toks[-1].start
    return None


def _ask(c: _Ctx) -> Command:
    if not c.toks:
        raise c.error("Say whom to ask and what, like `/case ask C-42 @dana is the refund out?`.")
    i, case = 0, None
    first = c.toks[0].text
    if _REQUEST_KEY.fullmatch(first):
        raise c.error(f"`ask` needs a case key like C-42, not `{_show(first)}`.")
    if _CASE_KEY.fullmatch(first):
        case, i = c.case_key(0), 1
    target = c.target(i)
    raw = c.after(i)
    by: str | None = None
    for m in reversed(list(_BY.finditer(raw))):
        when = c.when(raw[m.end() :])
        if when and len(when) <= MAX_TEXT and c.is_when(when):
            by, raw = when, raw[: m.start()]
            break
    question = c.need_text(raw, "question", "What do you want to ask? Write it after whom.")
    return Ask(case, target, question, by)


def _promise(c: _Ctx) -> Command:
    case = c.case_key(0)
    if len(c.toks) == 1:
        raise c.error("Say when you promised the customer an answer, like `tomorrow 17:00`.")
    if len(c.toks) == 2 and c.toks[1].text.lower() == "kept":
        return Promise(case, None, None, kept=True)
    found = c.longest_when(1, 5)
    if found is None:
        words = " ".join(t.text for t in c.toks[1:6])
        raise c.error(f"I can't read a time in `{_show(words)}`.")
    when, last = found
    return Promise(case, when, c.text(c.after(last), "promise text"))


def _status(c: _Ctx) -> Command:
    case = c.case_key(0)
    c.no_more(1, "only a case key")
    return Status(case)


def _update(c: _Ctx) -> Command:
    case = c.case_key(0)
    c.no_more(1, "only a case key")
    return Update(case)


def _reopen(c: _Ctx) -> Command:
    case = c.case_key(0)
    c.no_more(1, "only a case key")
    return Reopen(case)


def _mine(c: _Ctx) -> Command:
    c.no_more(0, "nothing more")
    return Mine()


def _resolve(c: _Ctx) -> Command:
    return Resolve(c.case_key(0), c.text(c.after(0), "note"))


def _transfer(c: _Ctx) -> Command:
    case = c.case_key(0)
    to = c.target(1, person_only=True)
    reason = c.need_text(c.after(1), "reason", "Say why you are transferring the case.")
    return Transfer(case, to, reason)


def _ack(c: _Ctx) -> Command:
    request = c.request_key(0)
    if len(c.toks) == 1:
        return Ack(request, None)
    if c.toks[1].text.lower() == "eta":
        return Ack(request, c.check_when(c.after(1)))
    when = c.when(c.after(0))
    if len(when) <= MAX_TEXT and c.is_when(when):
        return Ack(request, when)
    raise c.error(f"After the request key `ack` takes only `eta <when>`, not `{_show(when)}`.")


def _answer(c: _Ctx) -> Command:
    request = c.request_key(0)
    text = c.need_text(c.after(0), "answer", "Write your answer after the request key.")
    return Answer(request, text)


def _more_time(c: _Ctx) -> Command:
    request = c.request_key(0)
    if len(c.toks) == 1:
        raise c.error("Say until when, and why you need more time.")
    found = c.longest_when(1, 4)
    if found is None:
        words = " ".join(t.text for t in c.toks[1:5])
        raise c.error(f"I can't read a time in `{_show(words)}`.")
    when, last = found
    reason = c.need_text(c.after(last), "reason", "Please say why you need more time.")
    return MoreTime(request, when, reason)


def _accept(c: _Ctx) -> Command:
    return Decide(c.request_key(0), True, c.text(c.after(0), "note"))


def _decline(c: _Ctx) -> Command:
    return Decide(c.request_key(0), False, c.text(c.after(0), "note"))


def _deadline(c: _Ctx) -> Command:
    request = c.request_key(0)
    return Deadline(request, c.check_when(c.after(0)))


def _redirect(c: _Ctx) -> Command:
    request = c.request_key(0)
    to = c.target(1)
    reason = c.need_text(c.after(1), "reason", "Say why you are redirecting the request.")
    return Redirect(request, to, reason)


def _away(c: _Ctx) -> Command:
    toks = c.toks
    if len(toks) == 1 and toks[0].text.lower() == "off":
        return Away(None, None)
    start = 1 if toks and toks[0].text.lower() == "until" else 0
    if start >= len(toks):
        raise c.error("Say until when, like `/case away until monday 9:00`.")
    end, backup = len(toks), None
    for i in range(len(toks) - 1, start - 1, -1):
        if toks[i].text.lower() == "backup":
            if i != len(toks) - 2:
                raise c.error("`backup` takes one person, like `backup @dana`.")
            backup, end = c.target(i + 1), i
            break
    if end == start:
        raise c.error("Say until when, like `/case away until monday 9:00`.")
    return Away(c.check_when(c.rest[toks[start].start : toks[end - 1].end]), backup)


def _back(c: _Ctx) -> Command:
    c.no_more(0, "nothing more")
    return Away(None, None)


def _digest(c: _Ctx) -> Command:
    if not c.toks:
        return Digest(None)
    c.no_more(1, "at most one team")
    raw = c.toks[0].text
    ref = parse_ref(raw)
    if ref is None or ref.kind == "user":
        raise c.error(f"`digest` takes a team, like `billing`, not `{_show(raw)}`.")
    return Digest(ref.value if ref.kind == "name" else raw)


def _rate(c: _Ctx) -> Command:
    case = c.case_key(0)
    if len(c.toks) < 2:
        raise c.error("`rate` needs a score from 1 to 5 after the case key.")
    raw = c.toks[1].text
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= int(raw) <= 5:
        raise c.error(f"The score must be a whole number from 1 to 5, not `{_show(raw)}`.")
    return Rate(case, int(raw), c.text(c.after(1), "comment"))


def _admin(c: _Ctx) -> Command:
    if not c.toks:
        raise c.error("`admin` needs a verb, like `/case admin teams`.")
    return Admin(c.toks[0].text.lower(), tuple(t.text for t in c.toks[1:]))


def _help(c: _Ctx) -> Command:
    words = [t.text for t in c.toks]
    if words and words[0].lower() in ("/case", "case"):
        words = words[1:]
    if not words:
        return Help(None)
    topic = _canonical(" ".join(words))
    if topic not in _TOPICS:
        raise UsageError(f"I don't know `{_show(' '.join(words))}`. Try `/case help`.", usage())
    return Help(topic)


_HANDLERS: dict[str, Callable[[_Ctx], Command]] = {
    "open": _open,
    "ask": _ask,
    "promise": _promise,
    "status": _status,
    "mine": _mine,
    "update": _update,
    "resolve": _resolve,
    "reopen": _reopen,
    "transfer": _transfer,
    "ack": _ack,
    "answer": _answer,
    "more-time": _more_time,
    "accept": _accept,
    "decline": _decline,
    "deadline": _deadline,
    "redirect": _redirect,
    "away": _away,
    "back": _back,
    "digest": _digest,
    "rate": _rate,
    "admin": _admin,
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


def parse(text: str, *, is_when: Callable[[str], bool], slack_entities: bool = False) -> Command:
    """Parse the text of a `/case` command (what follows `/case`) into a Command.

    `is_when(phrase)` says whether a phrase is a time the deadline parser understands; time
    phrases are returned as written (whitespace collapsed), not parsed. With `slack_entities`,
    Slack's `&amp;` `&lt;` `&gt;` are decoded in free text and time phrases (mention markup is
    still recognised before decoding). Raises UsageError for anything malformed.
    """
    if len(text) > MAX_INPUT:
        raise UsageError(
            f"That command is too long ({len(text)} characters; the limit is {MAX_INPUT}).", usage()
        )
    s = _strip_prefix(_clean(text))
    toks = _tokens(s, 2)  # the command word (two for `more time`)
    if not toks or (len(toks) == 1 and toks[0].text == "?"):
        return Help(None)
    word, end = toks[0].text.lower(), toks[0].end
    if word == "more" and len(toks) > 1 and toks[1].text.lower() == "time":
        word, end = "more-time", toks[1].end
    word = _TOPIC_ALIASES.get(word, word) if word != "back" else word
    handler = _HANDLERS.get(word)
    if handler is None:
        raise UsageError(f"I don't know `{_show(toks[0].text)}`. Try `/case help`.", usage())
    return handler(_Ctx(word, s[end:], is_when, slack_entities))
