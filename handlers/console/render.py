"""Messages as plain text: the console, logs and e-mail-like fallbacks.

Buttons become the commands that do the same thing, so the console offers every action a Slack or
Teams user has.
"""

from __future__ import annotations

from bot.messages import Action, Mention, Message

_COMMANDS = {
    "ack": "/case ack {key}",
    "answer": "/case answer {key} <text>",
    "more_time": "/case more-time {key} <when> <reason>",
    "redirect": "/case redirect {key} <@person or team> <reason>",
    "accept": "/case accept {key}",
    "decline": "/case decline {key} [note]",
    "shorten": "/case deadline {key} {value}",
    "update": "/case update {key}",
    "promise": "/case promise {key} {value}",
    "rate": "/case rate {key} <1-5> [comment]",
    "confirm": "/case confirm {key}",
    "edit": "{value}",
    "edit_update": "/case updated {key} <what you sent>",
    "log_update": "/case updated {key}",
}
_ON_SCREEN = frozenset({"copy_update"})
"""Buttons with nothing to type in a console: the draft to copy is printed already."""


def action_command(action: Action) -> str:
    template = _COMMANDS.get(action.name, "{key}")
    value = action.value or "<when>"
    return template.format(key=action.key, value=value)


def render(msg: Message) -> str:
    text = "".join(f"@{s.handle}" if isinstance(s, Mention) else _plain(s) for s in msg.segments)
    shown = [a for a in msg.actions if a.name not in _ON_SCREEN]
    if shown:
        text += "\n   " + " · ".join(f"[{a.label}: {action_command(a)}]" for a in shown)
    return text


def _plain(seg: object) -> str:
    return seg if isinstance(seg, str) else str(getattr(seg, "text", seg))
