"""The usage lines of every command: what `/case help` shows and what a malformed command quotes.

The lines are worded in `prompts/commands.yaml`; a topic may have several lines (`promise`,
`away`), and a few spellings name the same topic (`back`, `more time`).
"""

from __future__ import annotations

from bot.messages import sentence

_LINES: tuple[tuple[str, str], ...] = (
    ("open", "cmd_usage_open"),
    ("ask", "cmd_usage_ask"),
    ("promise", "cmd_usage_promise"),
    ("promise", "cmd_usage_promise_kept"),
    ("status", "cmd_usage_status"),
    ("mine", "cmd_usage_mine"),
    ("update", "cmd_usage_update"),
    ("updated", "cmd_usage_updated"),
    ("resolve", "cmd_usage_resolve"),
    ("reopen", "cmd_usage_reopen"),
    ("transfer", "cmd_usage_transfer"),
    ("ack", "cmd_usage_ack"),
    ("answer", "cmd_usage_answer"),
    ("more-time", "cmd_usage_more_time"),
    ("accept", "cmd_usage_accept"),
    ("decline", "cmd_usage_decline"),
    ("deadline", "cmd_usage_deadline"),
    ("redirect", "cmd_usage_redirect"),
    ("away", "cmd_usage_away"),
    ("away", "cmd_usage_away_off"),
    ("digest", "cmd_usage_digest"),
    ("rate", "cmd_usage_rate"),
    ("confirm", "cmd_usage_confirm"),
    ("admin", "cmd_usage_admin"),
    ("help", "cmd_usage_help"),
)

TOPIC_ALIASES = {"back": "away", "moretime": "more-time", "more_time": "more-time"}
TOPICS = frozenset(t for t, _ in _LINES)


def usage(topic: str | None = None) -> str:
    """The help text: every command's usage line, or only `topic`'s (unknown topic: all)."""
    if topic is not None:
        key = canonical(topic)
        lines = [sentence(k) for t, k in _LINES if t == key]
        if lines:
            return "\n".join(lines)
    return "\n".join(sentence(k) for _, k in _LINES)


def admin_usage() -> str:
    """Every form of `/case admin …`, quoted when one can't be read or isn't allowed."""
    return sentence("cmd_admin_usage")


def canonical(word: str) -> str:
    """The topic a help word names: case and spacing ignored, aliases followed."""
    word = " ".join(word.lower().split())
    if word == "more time":
        return "more-time"
    return TOPIC_ALIASES.get(word, word)
