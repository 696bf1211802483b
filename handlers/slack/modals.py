"""The modals: open a case, answer, ask for more time, redirect, rate, edit a customer update,
edit a proposed command.

Each modal is built here and its submission read back into the same `Command` the `/case` words
would give, so every path runs the same service. `private_metadata` carries where the modal came
from (request key, channel, thread) as JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.commands import grammar as c
from bot.deadlines import looks_like_deadline
from handlers.slack.wording import say

OPEN, ANSWER, MORE_TIME, REDIRECT, RATE, EDIT_UPDATE, EDIT = (
    "ownit_open",
    "ownit_answer",
    "ownit_more_time",
    "ownit_redirect",
    "ownit_rate",
    "ownit_edit_update",
    "ownit_edit",
)
CALLBACKS = (OPEN, ANSWER, MORE_TIME, REDIRECT, RATE, EDIT_UPDATE, EDIT)
WHEN_LIMIT = 200  # a time typed into a form (a promise, a new deadline)
SCORE = re.compile(r"[0-9]{1,6}")  # a number; the service says it must be from 1 to 5


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
        "close": _plain(say("slack_form_cancel")),
        "private_metadata": json.dumps(meta, separators=(",", ":"))[:3000],
        "blocks": blocks,
    }


def open_case(meta: dict[str, Any], summary: str | None = None) -> Any:
    priority = {
        "type": "input",
        "block_id": "priority",
        "label": _plain(say("slack_form_priority")),
        "element": {
            "type": "static_select",
            "action_id": "value",
            "initial_option": {"text": _plain("P3"), "value": "P3"},
            "options": [{"text": _plain(p), "value": p} for p in ("P1", "P2", "P3", "P4")],
        },
    }
    return _modal(
        OPEN,
        say("slack_form_open_title"),
        say("slack_form_open_submit"),
        [
            _input("customer", say("slack_form_customer"), max_length=c.MAX_CUSTOMER),
            _input("summary", say("slack_form_issue"), multiline=True, initial=summary),
            _input(
                "promise",
                say("slack_form_promise"),
                optional=True,
                placeholder=say("slack_form_promise_hint"),
                max_length=WHEN_LIMIT,
            ),
            priority,
        ],
        meta,
    )


def answer(meta: dict[str, Any]) -> Any:
    return _modal(
        ANSWER,
        say("slack_form_answer_title", request_key=meta["key"]),
        say("slack_form_answer_submit"),
        [_input("text", say("slack_form_answer"), multiline=True)],
        meta,
    )


def more_time(meta: dict[str, Any]) -> Any:
    return _modal(
        MORE_TIME,
        say("slack_form_more_time_title", request_key=meta["key"]),
        say("slack_form_more_time_submit"),
        [
            _input(
                "when",
                say("slack_form_new_deadline"),
                placeholder=say("slack_form_new_deadline_hint"),
                max_length=WHEN_LIMIT,
            ),
            _input("reason", say("slack_form_more_time_why"), multiline=True),
        ],
        meta,
    )


def redirect(meta: dict[str, Any]) -> Any:
    person = {
        "type": "input",
        "block_id": "person",
        "optional": True,
        "label": _plain(say("slack_form_hand_to")),
        "element": {"type": "users_select", "action_id": "value"},
    }
    return _modal(
        REDIRECT,
        say("slack_form_redirect_title", request_key=meta["key"]),
        say("slack_form_redirect_submit"),
        [
            person,
            _input(
                "team",
                say("slack_form_or_team"),
                optional=True,
                placeholder=say("slack_form_team_hint"),
                max_length=c.MAX_HANDLE,
            ),
            _input("reason", say("slack_form_redirect_why"), multiline=True),
        ],
        meta,
    )


def rate(meta: dict[str, Any]) -> Any:
    score = {
        "type": "input",
        "block_id": "score",
        "label": _plain(say("slack_form_rating")),
        "element": {
            "type": "static_select",
            "action_id": "value",
            "options": [
                {"text": _plain(say("slack_form_score", score=n)), "value": str(n)}
                for n in range(1, 6)
            ],
        },
    }
    return _modal(
        RATE,
        say("slack_form_rate_title", case_key=meta["key"]),
        say("slack_form_rate_submit"),
        [score, _input("comment", say("slack_form_comment"), multiline=True, optional=True)],
        meta,
    )


def edit(meta: dict[str, Any], text: str) -> Any:
    """A proposed command's words, to change and run as typed (the proposal stays as it was)."""
    return _modal(
        EDIT,
        say("slack_form_edit_title"),
        say("slack_form_edit_submit"),
        [_input("command", say("slack_form_edit"), multiline=True, initial=text)],
        meta,
    )


def edit_update(meta: dict[str, Any]) -> Any:
    """The drafted update to edit before sending; submitting logs it as sent, as edited."""
    draft = str(meta.pop("draft", "") or "")
    return _modal(
        EDIT_UPDATE,
        say("slack_form_edit_update_title", case_key=meta["key"]),
        say("slack_form_edit_update_submit"),
        [_input("text", say("slack_form_edit_update"), multiline=True, initial=draft)],
        meta,
    )


BUILDERS = {
    "answer": answer,
    "more_time": more_time,
    "redirect": redirect,
    "rate": rate,
    "edit_update": edit_update,
}


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _value(view: dict[str, Any], block: str) -> str:
    """A field's value as typed or chosen; '' for a field missing or not of Slack's shape."""
    state = _obj(_obj(_obj(view.get("state")).get("values")).get(block))
    element = _obj(state.get("value"))
    if element.get("type") in ("static_select",):
        return _text(_obj(element.get("selected_option")).get("value"))
    if element.get("type") == "users_select":
        return _text(element.get("selected_user"))
    return _text(element.get("value")).strip()


def _fits(block: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise FormError(block, say("slack_form_too_long", limit=limit))
    return value


def _when(view: dict[str, Any], block: str, *, required: bool) -> str | None:
    when = _fits(block, " ".join(_value(view, block).split()), WHEN_LIMIT)
    if not when:
        if required:
            raise FormError(block, say("slack_form_give_time"))
        return None
    if not looks_like_deadline(when):
        raise FormError(block, say("slack_form_unreadable_time", when=when[:40]))
    return when


def _need(view: dict[str, Any], block: str, missing: str) -> str:
    """The field's value; if it is empty, the template `missing` says what it needs."""
    value = _value(view, block)
    if not value:
        raise FormError(block, say(missing))
    return _fits(block, value, c.MAX_TEXT)


def command(callback: str, view: dict[str, Any]) -> c.Command:
    """The submitted modal as a Command, or a FormError naming the field that is wrong."""
    meta = metadata(view)
    key = _text(meta.get("key"))
    if callback == OPEN:
        customer = " ".join(_need(view, "customer", "slack_form_name_customer").split())
        _fits("customer", customer, c.MAX_CUSTOMER)
        summary = _need(view, "summary", "slack_form_say_issue")
        return c.Open(
            customer, summary, _when(view, "promise", required=False), _value(view, "priority")
        )
    if callback == ANSWER:
        return c.Answer(key, _need(view, "text", "slack_form_write_answer"))
    if callback == MORE_TIME:
        when = _when(view, "when", required=True)
        assert when is not None
        return c.MoreTime(key, when, _need(view, "reason", "slack_form_say_why_time"))
    if callback == REDIRECT:
        user, team = _value(view, "person"), _value(view, "team").lstrip("@")
        if user and team:
            raise FormError("team", say("slack_form_person_or_team"))
        if user:
            ref = c.Ref("user", _fits("person", user, c.MAX_SLACK_ID))
        else:
            parsed = c.parse_ref(team) if team else None
            if parsed is None:
                raise FormError("person", say("slack_form_choose_target"))
            ref = parsed
        return c.Redirect(key, ref, _need(view, "reason", "slack_form_say_why_redirect"))
    if callback == EDIT_UPDATE:
        return c.Updated(key, _need(view, "text", "slack_form_write_update"))
    if callback == RATE:
        score = _value(view, "score")
        if not SCORE.fullmatch(score):
            raise FormError("score", say("slack_form_choose_rating"))
        comment = _fits("comment", _value(view, "comment"), c.MAX_TEXT)
        return c.Rate(key, int(score), comment or None)
    if callback == EDIT:
        return _typed(_need(view, "command", "slack_form_edit_empty"))
    raise FormError("", say("slack_form_unknown", callback=callback))


def _typed(text: str) -> c.Command:
    """Words typed into the edit form: a command, read as the grammar reads any."""
    try:
        command = c.parse(text, is_when=looks_like_deadline)
    except c.UsageError as exc:
        raise FormError("command", exc.message) from None
    if isinstance(command, c.OpenForm):
        raise FormError("command", say("slack_form_in_command"))
    return command
