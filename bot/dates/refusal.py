"""A deadline that cannot be used, worded from `prompts/dates.yaml` with what was understood."""

from __future__ import annotations

from bot.messages import sentence


class DeadlineError(ValueError):
    """A deadline or promise time that cannot be used; str(e) is a short, specific message for
    the user."""


def refuse(key: str, /, **fields: str | int | None) -> DeadlineError:
    """The DeadlineError worded by the template `key` (the hint is filled in when it asks)."""
    return DeadlineError(sentence(key, hint=sentence("dates_hint"), **fields))


def quoted(text: str) -> str:
    """A user's words, collapsed and cut short, to quote back in a refusal."""
    shown = " ".join(text.split())
    return shown if len(shown) <= 40 else shown[:39] + "…"
