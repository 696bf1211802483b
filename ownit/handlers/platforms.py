"""Which chat platforms plug into the web server, given the settings."""

from __future__ import annotations

from ownit.bot.config import Settings
from ownit.handlers.web import Plugin


def plugins(settings: Settings) -> list[Plugin]:
    found: list[Plugin] = []
    if settings.has_slack:
        from ownit.handlers import slack

        found.append(slack.plugin)
    return found
