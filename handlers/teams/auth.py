"""Who may post to `/api/messages`.

With `MICROSOFT_APP_ID` set, every activity must carry a valid Bot Framework JWT (checked by
`ConfigurationBotFrameworkAuthentication`); without one, only loopback callers are served (the
Bot Framework Emulator, tests).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botframework.connector.auth import BotFrameworkAuthentication

from bot.runtime.config import Settings


@dataclass(frozen=True)
class _AuthConfig:
    """The attribute names `ConfigurationBotFrameworkAuthentication` reads."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str


def authentication(settings: Settings) -> BotFrameworkAuthentication:
    return ConfigurationBotFrameworkAuthentication(
        _AuthConfig(
            APP_ID=settings.microsoft_app_id or "",
            APP_PASSWORD=settings.microsoft_app_password or "",
            APP_TYPE=settings.microsoft_app_type,
            APP_TENANTID=settings.microsoft_app_tenant_id or "",
        )
    )


def is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False
