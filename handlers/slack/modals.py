"""The modals: open a case, answer, ask for more time, redirect, rate.

Each modal is built here and its submission read back into the same `Command` the `/case` words
would give, so every path runs the same service. `private_metadata` carries where the modal came
from (request key, channel, thread) as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from bot.commands import grammar as c
from bot.deadlines import looks_like_deadline

OPEN, ANSWER, MORE_TIME, REDIRECT, RATE = (
    "ownit_open",
    "ownit_answer",
    "ownit_more_time",
    "ownit_redirect",
    "ownit_rate",
)
CALLBACKS = (OPEN, ANSWER, MORE_TIME, REDIRECT, RATE)


class FormError(ValueError):
    def __init__(self, block: str, message: str) -> None:
        super().__init__(message)
        self.block = block
        self.message = message


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:150], "emoji": False}


def _input(
    block: str,
    label: str,
    *,
    multiline: bool = False,
    optional: bool = False,
    initial: str | None = None,
    placeholder: str | None = None,
    max_length: int = c.MAX_TEXT,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = initial[:max_length]
    if placeholder:
        element["placeholder"] = _plain(placeholder)
    return {
        "type": "input",
        "block_id": block,
        "label": _plain(label),
        "optional": optional,
        "element": element,
    }


def _modal(callback: str, title: str, submit: str, blocks: list[Any], meta: dict[str, Any]) -> Any:
    return {
        "type": "modal",
        "callback_id": callback,
        "title": _plain(title[:24]),
        "submit": _plain(submit),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps(meta, separators=(",", ":"))[:3000],
        "blocks": blocks,
    }


def open_case(meta: dict[str, Any], summary: str | None = None) -> Any:
    priority = {
        "type": "input",
        "block_id": "priority",
        "label": _plain("Priority"),
        "element": {
            "type": "static_select",
            "action_id": "value",
            "initial_option": {"text": _plain("P3"), "value": "P3"},
            "options": [{"text": _plain(p), "value": p} for p in ("P1", "P2", "P3", "P4")],
        },
    }
    return _modal(
        OPEN,
        "Open a case",
        "Open",
        [
            _input("customer", "Customer", max_length=c.MAX_CUSTOMER),
            _input("summary", "What is the issue?", multiline=True, initial=summary),
            _input(
                "promise",
                "Promised the customer an answer by",
                optional=True,
                placeholder="tomorrow 17:00, eod, 4h, fri 3pm",
                max_length=200,
            ),
            priority,
        ],
        meta,
    )


def answer(meta: dict[str, Any]) -> Any:
    return _modal(
        ANSWER,
        f"Answer {meta['key']}",
        "Send",
        [_input("text", "Your answer", multiline=True)],
        meta,
    )


def more_time(meta: dict[str, Any]) -> Any:
    return _modal(
        MORE_TIME,
        f"More time: {meta['key']}",
        "Ask",
        [
            _input("when", "New deadline", placeholder="tomorrow 12:00, fri 3pm", max_length=200),
            _input("reason", "Why do you need more time?", multiline=True),
        ],
        meta,
    )


def redirect(meta: dict[str, Any]) -> Any:
    person = {
        "type": "input",
        "block_id": "person",
        "optional": True,
        "label": _plain("Hand it to"),
        "element": {"type": "users_select", "action_id": "value"},
    }
    return _modal(
        REDIRECT,
        f"Redirect {meta['key']}",
        "Redirect",
        [
            person,
            _input("team", "…or a team", optional=True, placeholder="billing", max_length=80),
            _input("reason", "Why is it theirs?", multiline=True),
        ],
        meta,
    )


def rate(meta: dict[str, Any]) -> Any:
    score = {
        "type": "input",
        "block_id": "score",
        "label": _plain("The customer's rating"),
        "element": {
            "type": "static_select",
            "action_id": "value",
            "options": [{"text": _plain(f"{n} / 5"), "value": str(n)} for n in range(1, 6)],
        },
    }
    return _modal(
        RATE,
        f"Rate {meta['key']}",
        "Record",
        [score, _input("comment", "Comment", multiline=True, optional=True)],
        meta,
    )


BUILDERS = {"answer": answer, "more_time": more_time, "redirect": redirect, "rate": rate}


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _value(view: dict[str, Any], block: str) -> str:
    state = ((view.get("state") or {}).get("values") or {}).get(block) or {}
    element = state.get("value") or {}
    if element.get("type") in ("static_select",):
        option = element.get("selected_option") or {}
        return str(option.get("value") or "")
    if element.get("type") == "users_select":
        return str(element.get("selected_user") or "")
    return str(element.get("value") or "").strip()


def _when(view: dict[str, Any], block: str, *, required: bool) -> str | None:
    when = " ".join(_value(view, block).split())
    if not when:
        if required:
            raise FormError(block, "Give a time, like tomorrow 12:00.")
        return None
    if not looks_like_deadline(when):
        raise FormError(block, f"I can't read a time in “{when[:40]}”.")
    return when


def _need(view: dict[str, Any], block: str, message: str) -> str:
    value = _value(view, block)
    if not value:
        raise FormError(block, message)
    if len(value) > c.MAX_TEXT:
        raise FormError(block, f"That is too long (the limit is {c.MAX_TEXT} characters).")
    return value


def command(callback: str, view: dict[str, Any]) -> c.Command:
    """The submitted modal as a Command, or a FormError naming the field that is wrong."""
    meta = metadata(view)
    key = str(meta.get("key") or "")
    if callback == OPEN:
        customer = " ".join(_need(view, "customer", "Name the customer.").split())
        summary = _need(view, "summary", "Say what the issue is.")
        return c.Open(
            customer, summary, _when(view, "promise", required=False), _value(view, "priority")
        )
    if callback == ANSWER:
        return c.Answer(key, _need(view, "text", "Write your answer."))
    if callback == MORE_TIME:
        when = _when(view, "when", required=True)
        assert when is not None
        return c.MoreTime(key, when, _need(view, "reason", "Say why you need more time."))
    if callback == REDIRECT:
        user, team = _value(view, "person"), _value(view, "team").lstrip("@")
        if user and team:
            raise FormError("team", "Choose a person or a team, not both.")
        if user:
            ref = c.Ref("user", user)
        else:
            parsed = c.parse_ref(team) if team else None
            if parsed is None:
                raise FormError("person", "Choose a person, or name a team below.")
            ref = parsed
        return c.Redirect(key, ref, _need(view, "reason", "Say why you are handing it on."))
    if callback == RATE:
        score = _value(view, "score")
        if not score.isdigit():
            raise FormError("score", "Choose a rating.")
        return c.Rate(key, int(score), _value(view, "comment") or None)
    raise FormError("", f"unknown form {callback}")
