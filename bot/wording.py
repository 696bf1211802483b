"""A template of `prompts/*.yaml` as one plain sentence.

Refusals and usage lines travel as strings (in exceptions, in help text), not as messages of
segments; they are worded in `prompts/` like everything else a person reads, and filled here.
"""

from __future__ import annotations

from bot.messages import compose, plain


def sentence(key: str, /, **fields: str | int | float | None) -> str:
    """The template `key` with `fields` filled in, as plain text."""
    return "".join(plain(s) for s in compose(key, **fields))
