"""Which chat platforms plug into the web server, given the settings."""

from __future__ import annotations

from bot.runtime.config import Settings
from handlers.web import Plugin


def plugins(settings: Settings) -> list[Plugin]:
    found: list[Plugin] = []
    if settings.has_slack:
        from handlers.slack import adapter as slack

        found.append(slack.plugin)
    if settings.has_teams or settings.teams_api_url:
        # Without an app id the Teams endpoint serves loopback callers only (emulator, tests).
        from handlers.teams import adapter as teams

        found.append(teams.plugin)
    return found
