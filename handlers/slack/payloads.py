"""Slack payloads read into what ownit works with: where a person acted, the delivery's key, and
the typed `Command` it stands for. Pure functions, no Web API and no database.

A button carries the action's name in its id and its key and value as JSON that ownit wrote
itself (`render.button_value`), so a click is read into a `Click` once and becomes a Command
directly, never through the words of `/case`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from yarl import URL

from bot.commands import grammar as c
from bot.deadlines import looks_like_deadline
from handlers.slack import modals
from handlers.slack import render as rs

COMMAND = "/case"
PARSED_KEPT = 1024  # command texts kept parsed, between their acknowledgement and handling
SHORTCUT = "open_case_from_message"

MAIN_FIELD = {
    modals.OPEN: "summary",
    modals.ANSWER: "text",
    modals.MORE_TIME: "when",
    modals.REDIRECT: "reason",
    modals.RATE: "score",
    modals.EDIT_UPDATE: "text",
    modals.EDIT: "command",
}
"""The field of each modal that a refusal of its submission is shown under."""


@dataclass(frozen=True)
class Where:
    """Where a person spoke to ownit, so the answer goes back there."""

    team: str
    user: str
    channel: str | None = None
    thread: str | None = None
    response_url: str | None = None

    def meta(self) -> dict[str, Any]:
        """What a modal opened here carries, so its submission is answered here too."""
        return {"channel": self.channel, "thread": self.thread}


def form_fields(body: str) -> dict[str, str]:
    """A form-encoded body's fields, blank ones kept. yarl's unquoting is compiled: a tenth of
    `urllib.parse.parse_qsl`'s time, which had been a tenth of an acknowledgement's."""
    return dict(URL.build(query_string=body, encoded=True).query)


class Malformed(ValueError):
    """A signed body that is not what Slack sends: not JSON, or not an object where one must be."""


def _json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than json can read
        raise Malformed("not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("not a JSON object")
    if not (slack_shaped(data) and bolt_readable(data)):
        raise Malformed("not of Slack's shape")
    return data


def delivery_body(text: str, content_type: str) -> dict[str, Any]:
    """A delivery's body read as bolt reads it (JSON, a form's `payload` of JSON, or a form), so
    that what bolt would trip over is refused first. `content_type` without its parameters."""
    if not text:
        return {}
    if content_type == "application/json" or text.startswith("{"):
        return _json_object(text)
    fields = form_fields(text)
    if "payload" in text and "payload" in fields:
        return _json_object(fields["payload"])
    return fields


_TEXT = frozenset(
    "type token team_id api_app_id event_id callback_id trigger_id response_url command user_id "
    "channel_id enterprise_id action_id block_id value action_ts id ts thread_ts subtype "
    "channel_type bot_id tab private_metadata app_installed_team_id execution_id event_ts "
    "selected_user".split()
)
_TEXT_OR_OBJECT = frozenset("text user team channel enterprise".split())
_OBJECT = frozenset(
    "event view container message previous_message item assistant_thread function_data "
    "workflow_step state".split()
)
_OBJECTS = frozenset("actions authorizations response_urls".split())


_NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "view_submission": ("view", ("type", "callback_id")),
    "view_closed": ("view", ("type", "callback_id")),
    "event_callback": ("event", ("type",)),
}
"""What bolt reads without asking first, by the type of delivery: the part, and its texts."""


def bolt_readable(data: dict[str, Any]) -> bool:
    """Whether the parts bolt takes for granted are there: a view's type and callback, an
    event's type, each action's id, a shortcut's callback."""
    kind = data.get("type")
    if kind in _NEEDS:
        part, names = _NEEDS[kind]
        inner = data.get(part)
        if not isinstance(inner, dict) or not all(isinstance(inner.get(n), str) for n in names):
            return False
    if kind in ("shortcut", "message_action") and not isinstance(data.get("callback_id"), str):
        return False
    actions = data.get("actions")
    return kind != "block_actions" or (
        isinstance(actions, list)
        and bool(actions)
        and all(isinstance(act, dict) and isinstance(act.get("action_id"), str) for act in actions)
    )


def slack_shaped(data: dict[str, Any], depth: int = 0) -> bool:
    """Whether a body has Slack's shape where Slack's parts are read (ownit's code and bolt's
    routing): ids and times as text, the parts that are objects as objects, the lists of objects
    as such. Bolt trips over anything else with a 500, so it is refused first."""
    if depth > 8:
        return False
    for name, value in data.items():
        if value is None:
            continue
        if name in _TEXT and not isinstance(value, str):
            return False
        if name in _TEXT_OR_OBJECT and not isinstance(value, str | dict):
            return False
        if name in _OBJECT and not isinstance(value, dict):
            return False
        if name in _OBJECTS and not (
            isinstance(value, list) and all(isinstance(v, dict) for v in value)
        ):
            return False
        parts = value if name in _OBJECTS else [value]
        for part in parts:
            if isinstance(part, dict) and name in _OBJECT | _OBJECTS | _TEXT_OR_OBJECT:
                if not slack_shaped(part, depth + 1):
                    return False
    return True


def is_ssl_check(raw: bytes) -> bool:
    """Slack's check of the certificate (`ssl_check=1`), which comes unsigned."""
    if len(raw) > 200:
        return False
    return form_fields(raw.decode(errors="replace")).get("ssl_check") == "1"


def obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: a payload's parts read without trust."""
    return value if isinstance(value, dict) else {}


def text_of(value: Any) -> str:
    """A payload's scalar as text ('' for nothing, an object or a list)."""
    return "" if value is None or isinstance(value, dict | list) else str(value)


@lru_cache(maxsize=PARSED_KEPT)
def parse(text: str) -> c.Command:
    """Words a person typed (Slack's markup for people and teams understood). A command's text
    is parsed at its acknowledgement (one that doesn't parse is answered there) and again when
    it is handled, a moment later: the second is the first's (commands are frozen, and the
    grammar reads nothing but the words)."""
    return c.parse(text, is_when=looks_like_deadline, slack_entities=True)


_MARKUP = re.compile(r"<([^<>]*)>")
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&"}


def plain_text(text: str) -> str:
    """Slack message text as plain words: mentions, channels and links as people read them."""

    def one(m: re.Match[str]) -> str:
        inner = m.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!subteam^"):
            return label or "@team"
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return f"{label} ({target})" if label and label != target else target

    text = _MARKUP.sub(one, text)
    return re.sub(r"&(lt|gt|amp);", lambda m: _ENTITIES[m.group()], text)


def user_refs(command: c.Command) -> set[str]:
    """Slack user ids a command names (`<@U…>`), to link them to people before it runs."""
    found = set()
    for f in dataclasses.fields(command):  # type: ignore[arg-type]
        value = getattr(command, f.name)
        if isinstance(value, c.Ref) and value.kind == "user":
            found.add(value.value)
    return found


# --------------------------------------------------------------------------- slash command


def _opt(value: Any) -> str | None:
    return text_of(value) or None


def command_where(body: dict[str, Any]) -> Where:
    return Where(
        team=text_of(body.get("team_id")),
        user=text_of(body.get("user_id")),
        channel=_opt(body.get("channel_id")),
        response_url=_opt(body.get("response_url")),
    )


def command_key(body: dict[str, Any]) -> str | None:
    """A slash command is one delivery per trigger id (Slack always sends one)."""
    trigger = text_of(body.get("trigger_id"))
    return f"slack:{text_of(body.get('team_id'))}:cmd:{trigger}" if trigger else None


# --------------------------------------------------------------------------- buttons


@dataclass(frozen=True)
class Click:
    """A click on one of ownit's buttons: which action, on which request or case, with what."""

    name: str
    key: str
    value: str


def click(action: dict[str, Any]) -> Click:
    key, value = rs.read_button_value(text_of(action.get("value")))
    return Click(text_of(action.get("action_id"))[len(rs.ACTION_PREFIX) :], key, value)


def instant(value: str) -> datetime | None:
    """The time a button carries as ownit wrote it (ISO 8601 with its offset), or None."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def button_command(clicked: Click) -> c.Command | None:
    """The command a button stands for (None: a button that opens a form, or an unknown one)."""
    key = clicked.key
    match clicked.name:
        case "ack":
            return c.Ack(key, None)
        case "accept":
            return c.Decide(key, True, None)
        case "decline":
            return c.Decide(key, False, None)
        case "shorten":
            at = instant(clicked.value)
            return c.Deadline(key, at=at) if at else None
        case "update":
            return c.Update(key)
        case "log_update":
            return c.Updated(key, clicked.value[: c.MAX_TEXT].strip() or None)
        case "promise":
            at = instant(clicked.value)
            return c.Promise(key, None, None, at=at) if at else None
        case "confirm":  # the proposal's number: its command is read from the database
            return c.Confirm(int(key)) if key.isdigit() and len(key) <= 9 else None
    return None


def copy_text(clicked: Click) -> str | None:
    """The draft a Copy button carries, to show alone (None: not a Copy button)."""
    return clicked.value if clicked.name == "copy_update" else None


def opens_form(clicked: Click) -> bool:
    return clicked.name in modals.BUILDERS or clicked.name == "edit"


def answered_here(clicked: Click) -> bool:
    """A button answered by the handler alone: a form to open, or a draft to show for copying."""
    return opens_form(clicked) or copy_text(clicked) is not None


def _team(body: dict[str, Any], user: dict[str, Any]) -> str:
    return text_of(obj(body.get("team")).get("id") or user.get("team_id"))


def action_where(body: dict[str, Any]) -> Where:
    user = obj(body.get("user"))
    return Where(
        team=_team(body, user),
        user=text_of(user.get("id")),
        channel=_opt(obj(body.get("channel")).get("id")),
        thread=_opt(obj(body.get("container")).get("thread_ts")),
        response_url=_opt(body.get("response_url")),
    )


def action_key(body: dict[str, Any], action: dict[str, Any]) -> str:
    """A click is one delivery: its time, who clicked, which button and on what."""
    where, clicked = action_where(body), click(action)
    at = text_of(action.get("action_ts"))
    return f"slack:{where.team}:act:{at}:{where.user}:{clicked.name}:{clicked.key}"


# --------------------------------------------------------------------------- modals, shortcut


def view_where(body: dict[str, Any], view: dict[str, Any]) -> Where:
    meta = modals.metadata(view)
    user = obj(body.get("user"))
    return Where(
        team=_team(body, user),
        user=text_of(user.get("id")),
        channel=_opt(meta.get("channel")),
        thread=_opt(meta.get("thread")),
    )


def view_key(where: Where, view: dict[str, Any]) -> str:
    return f"slack:{where.team}:view:{text_of(view.get('id'))}"


def shortcut_where(body: dict[str, Any]) -> Where:
    return Where(
        team=text_of(obj(body.get("team")).get("id")),
        user=text_of(obj(body.get("user")).get("id")),
        channel=_opt(obj(body.get("channel")).get("id")),
    )


def shortcut_summary(body: dict[str, Any]) -> str:
    """The message a shortcut was used on, as the new case's summary."""
    return plain_text(text_of(obj(body.get("message")).get("text")))[: c.MAX_TEXT]


# --------------------------------------------------------------------------- events


_EVENT_TEXT = ("user", "text", "channel", "ts", "thread_ts", "channel_type", "subtype", "bot_id")


def _texts(data: Any, names: tuple[str, ...]) -> bool:
    return isinstance(data, dict) and all(isinstance(data.get(n), str | None) for n in names)


def well_formed_event(body: dict[str, Any], event: Any) -> bool:
    """Whether an event has Slack's shape where ownit reads it (text where text is expected), so
    that nothing kept in the inbox trips its handler."""
    return _texts(event, _EVENT_TEXT) and _texts(body, ("team_id", "event_id"))


def well_formed_action(body: dict[str, Any], action: Any) -> bool:
    """Whether a click has Slack's shape where ownit reads it."""
    parts = all(isinstance(body.get(n), dict | None) for n in ("user", "team", "channel"))
    texts = _texts(body, ("trigger_id", "response_url"))
    return parts and texts and _texts(action, ("action_id", "value", "action_ts"))


def event_key(body: dict[str, Any]) -> str:
    return f"slack:{text_of(body.get('team_id'))}:{text_of(body.get('event_id'))}"


def mention_where(body: dict[str, Any], event: dict[str, Any]) -> Where:
    return Where(
        team=text_of(body.get("team_id")),
        user=text_of(event.get("user")),
        channel=_opt(event.get("channel")),
        thread=_opt(event.get("thread_ts")) or _opt(event.get("ts")),
    )


def message_where(body: dict[str, Any], event: dict[str, Any]) -> Where:
    is_dm = event.get("channel_type") == "im"
    return Where(
        team=text_of(body.get("team_id")),
        user=text_of(event.get("user")),
        channel=text_of(event.get("channel")),
        thread=_opt(event.get("thread_ts")) or (text_of(event.get("ts")) if is_dm else None),
    )


PERSON_SUBTYPES = frozenset({"thread_broadcast", "file_share"})
"""Message subtypes that are a person writing (a reply also sent to the channel, a message with a
file); the others are edits, deletions, bots, joins and the like."""


def message_for_ownit(event: dict[str, Any], bot_user: str | None) -> bool:
    """Whether a message event is ownit's to keep: a person's DM to the bot, or a reply in a
    thread (a possible answer). A mention is left to its own `app_mention` event."""
    subtype = event.get("subtype")
    person_said = not subtype or subtype in PERSON_SUBTYPES
    if not person_said or event.get("bot_id") or not text_of(event.get("user")):
        return False
    if bot_user is not None and event.get("user") == bot_user:
        return False
    text = text_of(event.get("text"))
    is_dm = event.get("channel_type") == "im"
    if not is_dm and (
        f"<@{bot_user}>" in text if bot_user is not None else text.lstrip().startswith("<@")
    ):
        return False
    return is_dm or bool(text_of(event.get("thread_ts")))
