"""The words of a command: tokens, keys, references to people and teams, and the reader of one
command's arguments.

Every command parser reads its arguments through `Args`, so a missing key, a broadcast instead of
a person, an unreadable time or an over-long text get the same short message everywhere. Time
phrases are not parsed here: the caller passes `is_when`, so the grammar stays independent of the
business-time code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import islice
from typing import NamedTuple

from bot.commands.usage import usage
from bot.directory import Ref
from bot.messages import sentence

# The limits of what a person types, named once: the width of the column a value is kept in
# (storage/tables.py), or a bound for free text that a person can still read in one go. A value
# over its limit is refused with a message that says the limit, and nothing is written.
MAX_TEXT = 3000  # free text: questions, answers, summaries, reasons, notes, comments
MAX_CUSTOMER = 200  # case.customer
MAX_HANDLE = 80  # person.handle, team.key
MAX_NAME = 200  # person.name, team.name
MAX_EMAIL = 320  # person.email
MAX_PLATFORM_ID = 200  # person.teams_id, the widest platform id a mention carries
MAX_SLACK_ID = 40  # person.slack_id, team.slack_group_id
MAX_INPUT = 10_000  # the whole command; bounds the work done on hostile input
MAX_INTEGER = 2**31 - 1  # an INTEGER column: case and request numbers, minutes

LIMITS: dict[str, tuple[tuple[str, int], ...]] = {
    "open": (("customer name", MAX_CUSTOMER), ("summary", MAX_TEXT)),
    "ask": (("question", MAX_TEXT),),
    "promise": (("promise text", MAX_TEXT),),
    "resolve": (("note", MAX_TEXT),),
    "transfer": (("reason", MAX_TEXT),),
    "answer": (("answer", MAX_TEXT),),
    "more-time": (("reason", MAX_TEXT),),
    "decline": (("note", MAX_TEXT),),
    "redirect": (("reason", MAX_TEXT),),
    "rate": (("comment", MAX_TEXT),),
    "admin": (("handle or team key", MAX_HANDLE), ("name", MAX_NAME), ("e-mail", MAX_EMAIL)),
}
"""What each command's usage says of its limits."""


class UsageError(ValueError):
    """A malformed command: `message` says what is wrong, `usage` is the command's usage line(s)."""

    def __init__(self, message: str, usage: str = ""):
        super().__init__(message)
        self.message = message
        self.usage = usage


# A token is a run of non-space characters; `<…>` markup (mentions) may contain spaces.
_TOKEN = re.compile(r"(?:<[^<>\n]*>|[^\s<]+|<)+")
CASE_KEY = re.compile(r"[cC]-?([0-9]+)")
REQUEST_KEY = re.compile(r"[rR]-?([0-9]+)")
_ANY_KEY = re.compile(r"[cCrR]-?[0-9]+")
_USER = re.compile(r"<@([^\s|<>]+)(?:\|([^<>]*))?>")
TEAM = re.compile(r"<!subteam\^([^\s|<>]+)(?:\|([^<>]*))?>")
_HANDLE = re.compile(r"@?([\w.\-]+)")
BROADCAST = frozenset({"@channel", "@here", "@everyone"})
_ENTITIES = re.compile(r"&(amp|lt|gt);")
_ENTITY_CHARS = {"amp": "&", "lt": "<", "gt": ">"}


class Tok(NamedTuple):
    """A word of a command and where it sits (a tuple: commands are parsed on every request)."""

    text: str
    start: int
    end: int


def tokens(s: str, limit: int | None = None) -> list[Tok]:
    return [Tok(m.group(), *m.span()) for m in islice(_TOKEN.finditer(s), limit)]


def collapse(s: str) -> str:
    return " ".join(s.split())


def show(token: str) -> str:
    """A user's token, made safe to quote inside backticks in an error message."""
    token = collapse(token).replace("`", "'")
    return token if len(token) <= 40 else token[:39] + "…"


def parse_ref(token: str) -> Ref | None:
    """`<@U1|dana>`, `<!subteam^S1|@billing>`, `@dana` or `billing` as a `Ref`; else None."""
    if (m := _USER.fullmatch(token)) and len(m.group(1)) <= MAX_PLATFORM_ID:
        label = (m.group(2) or "").strip().lstrip("@") or None
        return Ref("user", m.group(1), label)
    if (m := TEAM.fullmatch(token)) and len(m.group(1)) <= MAX_SLACK_ID:
        label = (m.group(2) or "").strip().lstrip("@") or None
        return Ref("team", m.group(1), label)
    if token.lower() in BROADCAST:
        return None
    if (m := _HANDLE.fullmatch(token)) and len(m.group(1)) <= MAX_HANDLE:
        handle = m.group(1)
        if any(c.isalnum() for c in handle):
            return Ref("name", handle)
    return None


def normal_key(raw: str, pattern: re.Pattern[str], prefix: str) -> str | None:
    """`c042` as `C-42`; None when `raw` is not such a key. A number too large to be one is
    still a key, of a case or request that does not exist (`bot.cases.lookup` says so)."""
    m = pattern.fullmatch(raw)
    if m is None:
        return None
    digits = m.group(1).lstrip("0") or "0"
    return f"{prefix}-{digits}"


def with_limits(cmd: str, text: str) -> str:
    """A command's usage, with the limits of what it takes (`LIMITS`) said after it."""
    limits = LIMITS.get(cmd)
    if not limits:
        return text
    said = ", ".join(sentence("edges_limit", what=what, limit=n) for what, n in limits)
    return f"{text}\n{sentence('edges_limits', limits=said)}"


class Args:
    """The arguments of one command: the text after its command word, and how to read it."""

    def __init__(
        self,
        cmd: str,
        rest: str,
        is_when: Callable[[str], bool],
        slack_entities: bool,
        usage_text: str | None = None,
    ) -> None:
        self.cmd = cmd
        self.rest = rest
        self.is_when = is_when
        self.slack_entities = slack_entities
        self.usage_text = usage_text
        self.toks = tokens(rest)

    def error(self, key: str, /, **fields: str | int | None) -> UsageError:
        """The UsageError worded by the template `key`, with this command's usage."""
        text = self.usage_text if self.usage_text is not None else usage(self.cmd)
        return UsageError(sentence(key, **fields), with_limits(self.cmd, text))

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
            raise self.error("cmd_text_too_long", what=what, length=len(value), limit=MAX_TEXT)
        return value or None

    def need_text(self, raw: str, what: str, missing: str, **fields: str) -> str:
        """Required free text; the template `missing` says what to write when there is none."""
        value = self.text(raw, what)
        if value is None:
            raise self.error(missing, **fields)
        return value

    def when(self, raw: str) -> str:
        return self.decode(collapse(raw))

    def fits_when(self, when: str) -> bool:
        """Whether `when` (already collapsed) is a time phrase of a sane length."""
        return bool(when) and len(when) <= MAX_TEXT and self.is_when(when)

    def check_when(self, raw: str) -> str:
        """`raw` as a time phrase, or a UsageError saying it can't be read."""
        when = self.when(raw)
        if not when:
            raise self.error("cmd_needs_time", command=self.cmd)
        if len(when) > MAX_TEXT or not self.is_when(when):
            raise self.error("cmd_unreadable_time", words=show(when))
        return when

    def longest_when(self, start: int, limit: int) -> tuple[str, int]:
        """The longest run of 1..`limit` tokens from `start` that is a time, and its last index."""
        stop = min(len(self.toks), start + limit)
        for end in range(stop, start, -1):
            when = self.decode(" ".join(t.text for t in self.toks[start:end]))
            if self.is_when(when):
                return when, end - 1
        words = " ".join(t.text for t in self.toks[start : start + limit])
        raise self.error("cmd_unreadable_time", words=show(words))

    def case_key(self, i: int) -> str:
        return self._key(i, CASE_KEY, "C", "cmd_a_case_key")

    def request_key(self, i: int) -> str:
        return self._key(i, REQUEST_KEY, "R", "cmd_a_request_key")

    def _key(self, i: int, pattern: re.Pattern[str], prefix: str, what: str) -> str:
        if i >= len(self.toks):
            raise self.error("cmd_needs", command=self.cmd, what=sentence(what))
        raw = self.toks[i].text
        key = normal_key(raw, pattern, prefix)
        if key is None:
            raise self.error(
                "cmd_needs_not", command=self.cmd, what=sentence(what), token=show(raw)
            )
        return key

    def target(self, i: int, *, person_only: bool = False) -> Ref:
        """Token `i` as a person or team (a person only with `person_only`), never a broadcast."""
        whom = sentence("cmd_a_person" if person_only else "cmd_a_person_or_team")
        example = "@dana" if person_only else "@dana or billing"
        if i >= len(self.toks):
            raise self.error("cmd_needs_target", command=self.cmd, whom=whom, example=example)
        raw = self.toks[i].text
        token = raw.rstrip(",:")  # "@dana, can you…" / "<@U1>: …"
        if token.lower() in BROADCAST or (token.startswith("<!") and TEAM.fullmatch(token) is None):
            raise self.error("cmd_no_broadcast", whom=whom, example=example)
        ref = parse_ref(token)
        if ref is None or (ref.kind == "name" and _ANY_KEY.fullmatch(ref.value)):
            raise self.error(
                "cmd_needs_target_not",
                command=self.cmd,
                whom=whom,
                example=example,
                token=show(raw),
            )
        if person_only and ref.kind == "team":
            raise self.error("cmd_one_owner")
        return ref

    def no_more(self, i: int, what: str) -> None:
        """Refuse tokens from index `i` on: the template `what` says what the command takes."""
        if i < len(self.toks):
            raise self.error(
                "cmd_takes_only",
                command=self.cmd,
                what=sentence(what),
                rest=show(self.after(i - 1)),
            )
