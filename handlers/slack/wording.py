"""Slack's own lines, from `prompts/slack.yaml`, as the plain strings Block Kit and refusals take.

The values filled in are the caller's to escape (or not, for plain text), since a line may be
mrkdwn; `compose` keeps them apart only to put them together again here.
"""

from __future__ import annotations

from bot.messages import compose, plain


def say(key: str, **fields: str | int | None) -> str:
    return "".join(plain(s) for s in compose(key, **fields))
