"""Messages as Teams Adaptive Cards (a button press back into a command is `buttons`).

Text that users typed is never interpreted by Teams: the body is a RichTextBlock of TextRuns, and
TextRuns take no markdown, so `**bold**`, `[links](…)`, `<at>forged</at>` mentions or HTML in a
customer's name are shown as typed; the card's fallback text is markdown-escaped. Only the
addressee of a post is a real mention entity, on its own line, with a name we sanitise.

Buttons are `Action.Execute` (Universal Actions), so the card can be replaced in place by the
invoke response; inputs (an answer, a new deadline, a reason) sit in `Action.ShowCard` sub-cards
next to the button that sends them.
"""

from __future__ import annotations

import re
from typing import Any

from botbuilder.schema import Activity, ActivityTypes, Attachment

from bot.messages import Action, Code, Mention, Message, Segment, Strong, compose
from handlers.teams.wording import wording

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"
MAX_TEXT = 20_000

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
_NAME_UNSAFE = re.compile(r"[<>*_`\[\]\\#|~{}]")


def mention_text(m: Mention) -> str:
    """The `<at>…</at>` text of a mention entity, from a name made safe for Teams markup."""
    name = " ".join(_NAME_UNSAFE.sub("", m.name or m.handle).split()) or m.handle
    return f"<at>{name}</at>"


def escape_markdown(text: str) -> str:
    """Plain text for a Teams markdown field: markup characters are escaped, tags neutralised."""
    return _MARKDOWN.sub(r"\\\1", text).replace("<", "&lt;").replace(">", "&gt;")


def plain_text(msg: Message) -> str:
    """The message as plain text with names for mentions (previews, fallback text, toasts)."""
    out = []
    for seg in msg.segments:
        out.append(
            seg.name if isinstance(seg, Mention) else (seg if isinstance(seg, str) else seg.text)
        )
    return "".join(out)[:MAX_TEXT]


def _runs(segments: tuple[Segment, ...]) -> list[list[dict[str, Any]]]:
    """TextRuns, one list per line of the message."""
    lines: list[list[dict[str, Any]]] = [[]]
    for seg in segments:
        if isinstance(seg, Mention):
            lines[-1].append(
                {"type": "TextRun", "text": seg.name or seg.handle, "weight": "Bolder"}
            )
            continue
        text = seg if isinstance(seg, str) else seg.text
        style: dict[str, Any] = {}
        if isinstance(seg, Strong):
            style = {"weight": "Bolder"}
        elif isinstance(seg, Code):
            style = {"fontType": "Monospace"}
        for i, part in enumerate(text.split("\n")):
            if i:
                lines.append([])
            if part:
                lines[-1].append({"type": "TextRun", "text": part, **style})
    return lines


def _body(msg: Message, *, header: bool = True) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = []
    keys = " · ".join(k for k in (msg.case, msg.request) if k)
    if keys and header:
        body.append(
            {
                "type": "TextBlock",
                "text": wording("teams_card_header", keys=keys),
                "size": "Small",
                "isSubtle": True,
                "spacing": "None",
            }
        )
    blank = False
    for runs in _runs(msg.segments):
        if not runs:
            blank = True
            continue
        body.append(
            {
                "type": "RichTextBlock",
                "inlines": runs,
                "spacing": "Medium" if blank else "None",
            }
        )
        blank = False
    return body


def _mentions(to: Mention | None) -> list[Mention]:
    """Only the addressee is pinged; other people in the text are shown by name."""
    return [to] if to is not None and to.teams_id else []


def _execute(action: Action, title: str | None = None) -> dict[str, Any]:
    return {
        "type": "Action.Execute",
        "title": title or action.label,
        "verb": action.name,
        "data": {"ownit": action.name, "key": action.key, "value": action.value},
    }


def _input(action: Action, field: str, label: str, **kw: Any) -> dict[str, Any]:
    return {"type": "Input.Text", "id": f"{action.name}.{field}", "label": label, **kw}


def _action(action: Action) -> dict[str, Any]:
    inputs: list[dict[str, Any]]
    match action.name:
        case "answer":
            inputs = [
                _input(
                    action,
                    "text",
                    wording("teams_card_answer"),
                    isMultiline=True,
                    isRequired=True,
                )
            ]
        case "more_time":
            inputs = [
                _input(
                    action,
                    "when",
                    wording("teams_card_new_deadline"),
                    placeholder=wording("teams_card_new_deadline_hint"),
                ),
                _input(action, "reason", wording("teams_card_why"), isRequired=True),
            ]
        case "redirect":
            inputs = [
                _input(
                    action,
                    "to",
                    wording("teams_card_hand_on_to"),
                    placeholder=wording("teams_card_hand_on_hint"),
                ),
                _input(action, "reason", wording("teams_card_why"), isRequired=True),
            ]
        case "decline":
            inputs = [_input(action, "note", wording("teams_card_note"))]
        case "edit":  # the proposed command's words, to change and run as typed
            inputs = [
                _input(
                    action,
                    "command",
                    wording("teams_card_command"),
                    value=action.value,
                    isMultiline=True,
                    isRequired=True,
                )
            ]
        case "rate":
            inputs = [
                {
                    "type": "Input.ChoiceSet",
                    "id": "rate.score",
                    "label": wording("teams_card_rating"),
                    "choices": [{"title": str(n), "value": str(n)} for n in range(1, 6)],
                    "value": "5",
                },
                _input(action, "comment", wording("teams_card_comment")),
            ]
        case "edit_update":
            inputs = [
                _input(
                    action,
                    "text",
                    wording("teams_card_edit_update"),
                    isMultiline=True,
                    isRequired=True,
                    value=action.value,
                )
            ]
            return _show(action, inputs, _execute(action, wording("teams_card_log_update")))
        case "copy_update":  # the draft alone, to select and copy
            return _show(action, [{"type": "RichTextBlock", "inlines": [_run(action.value)]}])
        case _:
            return _execute(action)
    return _show(action, inputs, _execute(action, wording("teams_card_send")))


def _run(text: str) -> dict[str, Any]:
    return {"type": "TextRun", "text": text}


def _show(action: Action, body: list[dict[str, Any]], *send: dict[str, Any]) -> dict[str, Any]:
    """A button that opens a sub-card (inputs, text to copy) with its own buttons."""
    return {
        "type": "Action.ShowCard",
        "title": action.label,
        "card": {"type": "AdaptiveCard", "body": body, "actions": list(send)},
    }


def card(msg: Message, *, note: Message | None = None, to: Mention | None = None) -> dict[str, Any]:
    """The Adaptive Card of a message; `note` (context, such as the request a button acted on)
    goes on top; `to` is mentioned (a post in a case thread)."""
    body = _body(note) if note is not None else []
    if note is not None:
        body.append({"type": "TextBlock", "text": " ", "separator": True, "spacing": "Small"})
    body += _body(msg, header=note is None)
    chart = msg.extra.get("chart")
    if isinstance(chart, dict) and chart.get("alt"):
        body.append(
            {
                "type": "RichTextBlock",
                "inlines": [{"type": "TextRun", "text": str(chart["alt"]), "isSubtle": True}],
            }
        )
    mentions = _mentions(to)
    entities: list[dict[str, Any]] = []
    if mentions:
        texts = [mention_text(m) for m in mentions]
        body.append({"type": "TextBlock", "text": ", ".join(texts), "wrap": True, "size": "Small"})
        entities = [
            {"type": "mention", "text": t, "mentioned": {"id": m.teams_id, "name": m.name}}
            for t, m in zip(texts, mentions, strict=True)
        ]
    content: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "fallbackText": escape_markdown(plain_text(msg)[:1000]),
        "body": body,
    }
    if msg.actions:
        content["actions"] = [_action(a) for a in msg.actions]
    if entities:
        content["msteams"] = {"entities": entities}
    return content


def activity(msg: Message, *, note: Message | None = None, to: Mention | None = None) -> Activity:
    """A message activity carrying the card; `summary` is what notifications preview."""
    attachments = [Attachment(content_type=CARD_CONTENT_TYPE, content=card(msg, note=note, to=to))]
    chart = msg.extra.get("chart")
    if isinstance(chart, dict) and chart.get("png_b64"):
        attachments.append(
            Attachment(
                content_type="image/png",
                content_url=f"data:image/png;base64,{chart['png_b64']}",
                name=str(chart.get("filename") or "chart.png"),
            )
        )
    return Activity(
        type=ActivityTypes.message,
        summary=plain_text(msg)[:200],
        attachments=attachments,
    )


def open_form() -> Message:
    """What `case open` with nothing after it shows: the form card (see `open_form_card`)."""
    return Message("open_form", compose("teams_open_form"))


def open_form_card() -> dict[str, Any]:
    """A card with the fields of `case open`; its button runs the command without any parsing."""
    content = card(open_form())
    content["body"] += [
        {
            "type": "Input.Text",
            "id": "open.customer",
            "label": wording("teams_form_customer"),
            "isRequired": True,
        },
        {
            "type": "Input.Text",
            "id": "open.summary",
            "label": wording("teams_form_issue"),
            "isMultiline": True,
            "isRequired": True,
        },
        {
            "type": "Input.Text",
            "id": "open.promise",
            "label": wording("teams_form_promise"),
            "placeholder": wording("teams_form_promise_hint"),
        },
        {
            "type": "Input.ChoiceSet",
            "id": "open.priority",
            "label": wording("teams_form_priority"),
            "value": "P3",
            "choices": [{"title": p, "value": p} for p in ("P1", "P2", "P3", "P4")],
        },
    ]
    content["actions"] = [
        {
            "type": "Action.Execute",
            "title": wording("teams_form_open"),
            "verb": "open",
            "data": {"ownit": "open"},
        }
    ]
    return content
