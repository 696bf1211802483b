"""Slack payloads read into what ownit works with: where a person acted, the delivery's key, and
the typed `Command` it stands for. Pure functions, no Web API and no database.

A button carries the action's name in its id and its key and value as JSON that ownit wrote
itself (`render.button_value`), so a click is read into a `Click` once and becomes a Command
directly, never through the words of `/case`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from yarl import URL

from bot.commands import grammar as c
from bot.deadlines import looks_like_deadline
from handlers.slack import modals
from handlers.slack import render as rs

COMMAND = "/case"
SHORTCUT = "open_case_from_message"

MAIN_FIELD = {
    modals.OPEN: "summary",
    modals.ANSWER: "text",
    modals.MORE_TIME: "when",
    modals.REDIRECT: "reason",
    modals.RATE: "score",
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


def parse(text: str) -> c.Command:
    """Words a person typed (Slack's markup for people and teams understood)."""
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


def command_where(body: dict[str, Any]) -> Where:
    return Where(
        team=str(body.get("team_id") or ""),
        user=str(body.get("user_id") or ""),
        channel=body.get("channel_id"),
        response_url=body.get("response_url"),
    )


def command_key(body: dict[str, Any]) -> str | None:
    """A slash command is one delivery per trigger id (Slack always sends one)."""
    trigger = body.get("trigger_id")
    return f"slack:{body.get('team_id') or ''}:cmd:{trigger}" if trigger else None


# --------------------------------------------------------------------------- buttons


@dataclass(frozen=True)
class Click:
    """A click on one of ownit's buttons: which action, on which request or case, with what."""

    name: str
    key: str
    value: str


def click(action: dict[str, Any]) -> Click:
    key, value = rs.read_button_value(action.get("value"))
    return Click(str(action.get("action_id", ""))[len(rs.ACTION_PREFIX) :], key, value)


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
    return None


def opens_form(clicked: Click) -> bool:
    return clicked.name in modals.BUILDERS


def action_where(body: dict[str, Any]) -> Where:
    user = body.get("user") or {}
    return Where(
        team=str((body.get("team") or {}).get("id") or user.get("team_id") or ""),
        user=str(user.get("id") or ""),
        channel=(body.get("channel") or {}).get("id"),
        thread=(body.get("container") or {}).get("thread_ts"),
        response_url=body.get("response_url"),
    )


def action_key(body: dict[str, Any], action: dict[str, Any]) -> str:
    """A click is one delivery: its time, who clicked, which button and on what."""
    where, clicked = action_where(body), click(action)
    at = action.get("action_ts")
    return f"slack:{where.team}:act:{at}:{where.user}:{clicked.name}:{clicked.key}"


# --------------------------------------------------------------------------- modals, shortcut


def view_where(body: dict[str, Any], view: dict[str, Any]) -> Where:
    meta = modals.metadata(view)
    user = body.get("user") or {}
    return Where(
        team=str((body.get("team") or {}).get("id") or user.get("team_id") or ""),
        user=str(user.get("id") or ""),
        channel=meta.get("channel"),
        thread=meta.get("thread"),
    )


def view_key(where: Where, view: dict[str, Any]) -> str:
    return f"slack:{where.team}:view:{view.get('id')}"


def shortcut_where(body: dict[str, Any]) -> Where:
    return Where(
        team=str((body.get("team") or {}).get("id") or ""),
        user=str((body.get("user") or {}).get("id") or ""),
        channel=(body.get("channel") or {}).get("id"),
    )


def shortcut_summary(body: dict[str, Any]) -> str:
    """The message a shortcut was used on, as the new case's summary."""
    return plain_text(str((body.get("message") or {}).get("text") or ""))[: c.MAX_TEXT]


# --------------------------------------------------------------------------- events


def event_key(body: dict[str, Any]) -> str:
    return f"slack:{body.get('team_id') or ''}:{body.get('event_id')}"


def mention_where(body: dict[str, Any], event: dict[str, Any]) -> Where:
    return Where(
        team=str(body.get("team_id") or ""),
        user=str(event.get("user") or ""),
        channel=event.get("channel"),
        thread=event.get("thread_ts") or event.get("ts"),
    )


def message_where(body: dict[str, Any], event: dict[str, Any]) -> Where:
    is_dm = event.get("channel_type") == "im"
    return Where(
        team=str(body.get("team_id") or ""),
        user=str(event["user"]),
        channel=str(event.get("channel") or ""),
        thread=event.get("thread_ts") or (str(event.get("ts") or "") if is_dm else None),
    )


PERSON_SUBTYPES = frozenset({"thread_broadcast", "file_share"})
"""Message subtypes that are a person writing (a reply also sent to the channel, a message with a
file); the others are edits, deletions, bots, joins and the like."""


def message_for_ownit(event: dict[str, Any], bot_user: str | None) -> bool:
    """Whether a message event is ownit's to keep: a person's DM to the bot, or a reply in a
    thread (a possible answer). A mention is left to its own `app_mention` event."""
    subtype = event.get("subtype")
    if (subtype and subtype not in PERSON_SUBTYPES) or event.get("bot_id") or not event.get("user"):
        return False
    if bot_user is not None and event.get("user") == bot_user:
        return False
    text = str(event.get("text") or "")
    is_dm = event.get("channel_type") == "im"
    if not is_dm and (
        f"<@{bot_user}>" in text if bot_user is not None else text.lstrip().startswith("<@")
    ):
        return False
    return is_dm or bool(event.get("thread_ts"))
