"""Teams wording as plain text: `prompts/teams.yaml` templates for toasts, hints and usage errors,
which travel as strings rather than as message segments."""

from __future__ import annotations

from bot.messages import templates


def wording(template: str, /, **fields: object) -> str:
    return templates()[template].format(**fields)
