"""Messages, case cards and request posts as Slack Block Kit: pure functions, no Web API.

Every string segment is text a user may have typed, so it is escaped by Slack's rules (`&`, `<`,
`>`) and its formatting characters are broken apart with zero-width spaces: `<!channel>` typed by
a user comes out as the literal text, never as a ping, and `*bold*` stays two asterisks. Only the
renderer's own markup (mentions of known Slack users, bold, code, dates, links) is live.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from bot.messages import Action, Code, Mention, Message, Segment, Strong
from handlers.slack.wording import say
from storage.states import OPEN_REQUEST_STATES, CaseStatus, RequestStatus

ZWSP = "\u200b"
SECTION_LIMIT = 2900  # Slack allows 3000 characters in a section; keep a margin
TEXT_LIMIT = 3000
ACTION_PREFIX = "ownit_"
BUTTON_VALUE_LIMIT = 2000
LINES_KEPT = 4096  # card lines kept drawn (the cards redrawn lately hold them)

_FORMAT = re.compile(r"([*_~`])")
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")

Block = dict[str, Any]


def escape(text: str) -> str:
    """User text as inert mrkdwn: entities escaped, formatting characters and `@here` defused."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _FORMAT.sub(ZWSP + r"\1" + ZWSP, text)
    return _BROADCAST.sub("@" + ZWSP + r"\1", text)


def escape_code(text: str) -> str:
    """Text for inside backticks: no formatting happens there, but entities and backticks do."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("`", "'").replace("\n", " ")


def mention(m: Mention) -> str:
    if m.slack_id and _SLACK_ID.match(m.slack_id):
        return f"<@{m.slack_id}>"
    return escape(m.name or m.handle)


def strong(text: str) -> str:
    core = text.strip()
    if not core:
        return escape(text)
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return f"{lead}*{escape(core)}*{trail}"


def segment(seg: Segment) -> str:
    if isinstance(seg, str):
        return escape(seg)
    if isinstance(seg, Mention):
        return mention(seg)
    if isinstance(seg, Strong):
        return strong(seg.text)
    if isinstance(seg, Code):
        return f"`{escape_code(seg.text)}`" if seg.text.strip() else ""
    raise TypeError(f"unknown segment {seg!r}")


def mrkdwn(segments: tuple[Segment, ...] | list[Segment]) -> str:
    return "".join(segment(s) for s in segments)


def date(at: datetime | None, fallback: str | None = None) -> str:
    """A time each reader sees in their own zone (Slack's date formatting), with a fallback."""
    if fallback is None:
        fallback = say("slack_no_time_set")
    if at is None:
        return escape(fallback)
    safe = fallback.replace("|", "/").replace(">", "").replace("<", "")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{escape(safe)}>"


def link(url: str, label: str) -> str:
    safe_url = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe_url}|{escape(label)}>"


def _split(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut long mrkdwn into pieces at line ends (or spaces), never inside `&…;` or `<…>`."""
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
            amp, semi = text.rfind("&", 0, cut), text.rfind(";", 0, cut)
            if amp > semi:
                cut = amp
            lt, gt = text.rfind("<", 0, cut), text.rfind(">", 0, cut)
            if lt > gt:
                cut = lt
            if cut <= 0:
                cut = limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        pieces.append(text)
    return pieces


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}


def button_value(action: Action) -> str:
    """The button's key and value as JSON, within Slack's 2000 characters (a long value, such as
    a draft carried by its buttons, is cut to fit: Slack refuses the whole message otherwise)."""
    value = action.value
    while True:
        raw = json.dumps({"k": action.key, "v": value}, separators=(",", ":"))
        if len(raw) <= BUTTON_VALUE_LIMIT:
            return raw
        value = value[: min(len(value) - 1, len(value) * BUTTON_VALUE_LIMIT // len(raw))]


def read_button_value(raw: str | None) -> tuple[str, str]:
    try:
        data = json.loads(raw or "{}")
        return str(data.get("k", "")), str(data.get("v", ""))
    except (ValueError, AttributeError):
        return "", ""


_STYLE = {
    "ack": "primary",
    "accept": "primary",
    "answer": "primary",
    "decline": "danger",
    "confirm": "primary",
}


_KEY_ONLY = frozenset({"edit"})  # the words to edit are read from the proposal, not the button


def button(action: Action) -> Block:
    value = Action(action.name, action.key, action.label) if action.name in _KEY_ONLY else action
    b: Block = {
        "type": "button",
        "action_id": f"{ACTION_PREFIX}{action.name}",
        "text": {"type": "plain_text", "text": action.label[:75], "emoji": False},
        "value": button_value(value),
    }
    if action.name in _STYLE:
        b["style"] = _STYLE[action.name]
    return b


def actions_block(actions: tuple[Action, ...] | list[Action]) -> Block:
    return {"type": "actions", "elements": [button(a) for a in actions[:25]]}


def message_blocks(msg: Message, *, thread_link: str | None = None) -> list[Block]:
    """One message: its text in sections, a link to its case thread, its buttons."""
    blocks: list[Block] = [section(piece) for piece in _split(mrkdwn(msg.segments))]
    if thread_link:
        label = (
            say("slack_open_thread_of", case_key=msg.case) if msg.case else say("slack_open_thread")
        )
        blocks.append(context(link(thread_link, label)))
    if msg.actions:
        blocks.append(actions_block(msg.actions))
    return blocks[:50]


def fallback_text(msg: Message) -> str:
    """The notification text that goes with the blocks (also escaped)."""
    text = mrkdwn(msg.segments)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def many_blocks(msgs: list[Message]) -> list[Block]:
    blocks: list[Block] = []
    for i, m in enumerate(msgs):
        if i:
            blocks.append({"type": "divider"})
        blocks.extend(message_blocks(m))
    return blocks[:50]


def many_text(msgs: list[Message]) -> str:
    text = "\n".join(fallback_text(m) for m in msgs)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


# --------------------------------------------------------------------------- case cards


@dataclass(frozen=True)
class RequestLine:
    key: str
    target: Mention | str
    asked_by: Mention | None
    question: str
    status: str
    deadline: datetime
    deadline_text: str
    eta: datetime | None = None
    eta_text: str = ""
    answer: str | None = None
    answered_by: Mention | None = None
    late: bool = False
    pending: bool = False


@dataclass(frozen=True)
class CaseCard:
    key: str
    customer: str
    summary: str
    owner: Mention
    priority: str
    status: str
    promise_at: datetime | None
    promise_text: str
    promise_what: str | None = None
    promise_kept: bool | None = None
    handoffs: int = 0
    requests: list[RequestLine] = field(default_factory=list)
    more: int = 0  # requests left off the card (closed ones, oldest first, then open ones)
    more_open: int = 0  # of which still open (more than a card holds are waiting)
    summed_up: str | None = None  # the model's summary of a long timeline, while current


_STATUS_ICON: dict[str, str] = {
    CaseStatus.OPEN: ":large_blue_circle:",
    CaseStatus.RESOLVED: ":white_check_mark:",
}
_REQ_ICON: dict[str, str] = {
    RequestStatus.OPEN: ":hourglass_flowing_sand:",
    RequestStatus.ACKNOWLEDGED: ":eyes:",
    RequestStatus.ANSWERED: ":white_check_mark:",
    RequestStatus.CANCELLED: ":heavy_minus_sign:",
}


def _target(t: Mention | str) -> str:
    return mention(t) if isinstance(t, Mention) else escape(t)


def request_state(r: RequestLine) -> str:
    if r.status == RequestStatus.ANSWERED:
        who = mention(r.answered_by) if r.answered_by else say("slack_request_someone")
        return say("slack_request_answered_by", who=who)
    state = escape(r.status)
    if r.eta:
        state += say("slack_request_eta", eta=date(r.eta, r.eta_text))
    if r.pending:
        state += say("slack_request_more_time_asked")
    if r.late and r.status in OPEN_REQUEST_STATES:
        state += say("slack_request_overdue")
    return state


_KEPT = {True: "slack_card_promise_kept", False: "slack_card_promise_missed"}


def card_blocks(card: CaseCard) -> list[Block]:
    icon = _STATUS_ICON.get(card.status, ":black_circle:")
    head = f"{icon} *{escape(card.key)} · {escape(card.customer)}*\n{escape(card.summary)}"
    promise = (
        date(card.promise_at, card.promise_text)
        if card.promise_at
        else say("slack_card_no_promise")
    )
    if card.promise_what:
        promise += say("slack_card_promise_what", what=escape(card.promise_what))
    if card.promise_kept is not None:
        promise += say(_KEPT[card.promise_kept])
    facts = say(
        "slack_card_facts",
        owner=mention(card.owner),
        priority=escape(card.priority),
        status=escape(card.status),
        handoffs=card.handoffs,
        promise=promise,
    )
    blocks: list[Block] = [section(head[:SECTION_LIMIT]), section(facts)]
    if card.summed_up:
        blocks.append(context(say("slack_card_summed_up", paragraph=escape(card.summed_up))))
    if card.requests:
        lines = [_request_line(r) for r in card.requests]
        if card.more:
            lines.append(say("slack_card_more", which=_more(card), case_key=escape_code(card.key)))
        for piece in _split("\n".join(lines)):
            blocks.append(section(piece))
    blocks.append(
        context(
            say("slack_card_home", case_key=escape(card.key), case_key_code=escape_code(card.key))
        )
    )
    return blocks


@lru_cache(maxsize=LINES_KEPT)
def _request_line(r: RequestLine) -> str:
    """A request's line on its card: drawn once per state of the request, since a card is
    redrawn for every change of its case and most of its lines are as they were."""
    return say(
        "slack_card_request",
        icon=_REQ_ICON.get(r.status, ""),
        request_key=escape(r.key),
        target=_target(r.target),
        question=escape(_short(r.question)),
        state=request_state(r),
        deadline=date(r.deadline, r.deadline_text),
    )


def _more(card: CaseCard) -> str:
    """The requests a card leaves off: how many, and how many of them are still open."""
    many = "_many" if card.more != 1 else ""
    if card.more_open:
        return say(f"slack_card_more_open{many}", count=card.more, open=card.more_open)
    return say(f"slack_card_more_closed{many}", count=card.more)


def card_text(card: CaseCard) -> str:
    return f"{escape(card.key)} · {escape(card.customer)}: {escape(_short(card.summary))}"


def request_post_blocks(r: RequestLine, case_key: str) -> list[Block]:
    asker = mention(r.asked_by) if r.asked_by else say("slack_post_the_owner")
    text = say(
        "slack_post_head",
        request_key=escape(r.key),
        asker=asker,
        target=_target(r.target),
        question=escape(r.question),
        deadline=date(r.deadline, r.deadline_text),
        state=request_state(r),
    )
    if r.answer:
        text += say("slack_post_answer", answer=escape(r.answer))
    blocks = [section(p) for p in _split(text)]
    blocks.append(context(say("slack_post_hint", request_key=escape(r.key))))
    return blocks


def request_post_text(r: RequestLine) -> str:
    return f"{escape(r.key)}: {escape(_short(r.question))}"


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
