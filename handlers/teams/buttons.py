"""Card submissions as commands: what a button and its inputs stand for, as a grammar `Command`.

Built straight from the card's fields, so nothing is written out as text to be parsed again,
with the checks the grammar makes on typed text: a key of the right kind, the text a command
needs, lengths, times the deadline parser reads, a person or team to hand on to. A malformed
input raises `UsageError` (shown to the person); a button that is not ours gives None.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.commands import grammar as c
from bot.deadlines import looks_like_deadline
from handlers.teams.wording import wording
from storage.states import Priority

_KEY = re.compile(r"[CR]-[0-9]{1,40}")  # a number too large is a key of nothing: "no such"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_BROADCAST = frozenset({"@here", "@channel", "@everyone"})


def _one_line(text: object) -> str:
    return " ".join(str(text or "").split())


def _clean(text: object) -> str:
    """Line ends as `\\n`, control characters and bidi overrides dropped (as the grammar does)."""
    return _CONTROL.sub("", str(text or "").replace("\r\n", "\n").replace("\r", "\n")).strip()


class _Inputs:
    """The inputs of one pressed button (`<verb>.<field>`), checked as the grammar checks."""

    def __init__(self, verb: str, command: str, data: dict[str, Any]) -> None:
        self.verb = verb
        self.command = command  # the typed command's name, for its usage line
        self.data = data

    def error(self, template: str, **fields: object) -> c.UsageError:
        text = wording(template, command=self.command, **fields)
        return c.UsageError(text, c.usage(self.command))

    def field(self, name: str) -> str:
        return _clean(self.data.get(f"{self.verb}.{name}"))

    def text(self, value: str, what: str) -> str | None:
        if len(value) > c.MAX_TEXT:
            raise self.error("teams_input_too_long", what=what, n=len(value), limit=c.MAX_TEXT)
        return value or None

    def need_text(self, value: str, what: str, missing: str) -> str:
        found = self.text(value, what)
        if found is None:
            raise self.error(missing)
        return found

    def when(self, value: str, missing: str = "teams_input_needs_time") -> str:
        if not value:
            raise self.error(missing)
        if len(value) > c.MAX_TEXT or not looks_like_deadline(value):
            raise self.error("teams_input_bad_time", when=_show(value))
        return value

    def target(self, value: str) -> c.Ref:
        if not value:
            raise self.error("teams_input_needs_target")
        token = value if value.startswith(("@", "<")) else "@" + value
        if token.lower() in _BROADCAST or token.startswith("<!"):
            raise self.error("teams_input_broadcast")
        ref = c.parse_ref(token)
        if ref is None or (ref.kind == "name" and _KEY.fullmatch(ref.value.upper())):
            raise self.error("teams_input_bad_target", token=_show(value))
        return ref


def _show(text: str) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= 40 else text[:39] + "…"


def _ack(key: str, i: _Inputs) -> c.Command:
    return c.Ack(key, None)


def _accept(key: str, i: _Inputs) -> c.Command:
    return c.Decide(key, True, None)


def _decline(key: str, i: _Inputs) -> c.Command:
    return c.Decide(key, False, i.text(_one_line(i.field("note")), "note"))


def _answer(key: str, i: _Inputs) -> c.Command:
    return c.Answer(key, i.need_text(i.field("text"), "answer", "teams_input_needs_answer"))


def _more_time(key: str, i: _Inputs) -> c.Command:
    when = i.when(_one_line(i.field("when")), "teams_input_needs_until")
    reason = i.need_text(_one_line(i.field("reason")), "reason", "teams_input_needs_why_time")
    return c.MoreTime(key, when, reason)


def _redirect(key: str, i: _Inputs) -> c.Command:
    to = i.target(_one_line(i.field("to")).split(" ")[0])
    reason = i.need_text(_one_line(i.field("reason")), "reason", "teams_input_needs_why_redirect")
    return c.Redirect(key, to, reason)


def _instant(i: _Inputs) -> datetime:
    """The instant the button offered, as ownit wrote it on the card: not words to read."""
    value = _one_line(i.data.get("value"))
    if not value:
        raise i.error("teams_input_needs_time")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise i.error("teams_input_bad_time", when=_show(value))
    return at


def _shorten(key: str, i: _Inputs) -> c.Command:
    return c.Deadline(key, at=_instant(i))


def _promise(key: str, i: _Inputs) -> c.Command:
    return c.Promise(key, None, None, at=_instant(i))


def _update(key: str, i: _Inputs) -> c.Command:
    return c.Update(key)


def _log_update(key: str, i: _Inputs) -> c.Command:
    """Log as sent: the draft as the button carried it, or as edited in its input."""
    edited = i.field("text") if i.verb == "edit_update" else ""
    return c.Updated(key, i.text(edited or _clean(i.data.get("value")), "update"))


def _rate(key: str, i: _Inputs) -> c.Command:
    score = _one_line(i.field("score"))
    if not re.fullmatch(r"[1-5]", score):
        raise i.error("teams_input_bad_score", score=_show(score))
    return c.Rate(key, int(score), i.text(_one_line(i.field("comment")), "comment"))


_Build = Callable[[str, _Inputs], c.Command]
# verb on the card: (the typed command it stands for, the kind of key it takes, its builder)
_BUTTONS: dict[str, tuple[str, str, _Build]] = {
    "ack": ("ack", "R", _ack),
    "accept": ("accept", "R", _accept),
    "decline": ("decline", "R", _decline),
    "answer": ("answer", "R", _answer),
    "more_time": ("more-time", "R", _more_time),
    "redirect": ("redirect", "R", _redirect),
    "shorten": ("deadline", "R", _shorten),
    "update": ("update", "C", _update),
    "log_update": ("updated", "C", _log_update),
    "edit_update": ("updated", "C", _log_update),
    "promise": ("promise", "C", _promise),
    "rate": ("rate", "C", _rate),
}


def command_for(data: dict[str, Any]) -> c.Command | None:
    """The command a card button stands for, with what was typed into its inputs.

    None: not one of ownit's buttons, or its key was tampered with. `UsageError`: the inputs
    are not enough for the command (the person is told why, as for typed text).
    """
    verb = str(data.get("ownit") or "")
    key = _one_line(data.get("key"))
    if verb in ("confirm", "edit"):
        return _proposal(verb, key, data)
    button = _BUTTONS.get(verb)
    if button is None or not _KEY.fullmatch(key):
        return None
    command, prefix, build = button
    inputs = _Inputs(verb, command, data)
    if key[0] != prefix:
        what = wording("teams_key_request" if prefix == "R" else "teams_key_case")
        raise inputs.error("teams_input_wrong_key", what=what, key=key)
    return build(f"{prefix}-{key[2:].lstrip('0') or '0'}", inputs)


def _proposal(verb: str, key: str, data: dict[str, Any]) -> c.Command | None:
    """Confirm: the proposal's number (its command is read from the database). Edit: the words
    the person changed in the card's input, read as any typed command."""
    if not (key.isdigit() and len(key) <= 9):
        return None
    if verb == "confirm":
        return c.Confirm(int(key))
    text = _clean(data.get("edit.command"))
    if not text:
        raise c.UsageError(wording("teams_input_needs_command"), c.usage())
    command = _typed(text)
    if isinstance(command, c.OpenForm):
        raise c.UsageError(wording("teams_input_needs_command"), c.usage("open"))
    return command


def _typed(text: str) -> c.Command:
    return c.parse(text, is_when=looks_like_deadline)


def open_command(data: dict[str, Any]) -> c.Open | None:
    """`case open` from the form card's fields; None if the customer or the issue is missing,
    `UsageError` if one is longer than its limit (nothing is cut short and kept)."""
    priority = str(data.get("open.priority") or "").upper()
    customer = _one_line(data.get("open.customer"))
    summary = str(data.get("open.summary") or "").strip()
    if not customer or not summary:
        return None
    inputs = _Inputs("open", "open", data)
    if len(customer) > c.MAX_CUSTOMER:
        raise inputs.error(
            "teams_input_too_long", what="customer name", n=len(customer), limit=c.MAX_CUSTOMER
        )
    inputs.text(summary, "summary")
    return c.Open(
        customer,
        summary,
        inputs.text(_one_line(data.get("open.promise")), "promise"),
        priority if priority in set(Priority) else None,
    )
