"""Who ownit is in the workspace (`auth.test`, asked once at start, retried until it answers),
and the answer to bolt's "which token?" for every request without a call per request."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    user_id: str | None
    bot_id: str | None
    team_id: str | None
    url: str | None


class Whoami:
    """The bot's identity, once Slack has said it."""

    def __init__(self, client: AsyncWebClient, bot_token: str | None) -> None:
        self.client = client
        self.bot_token = bot_token
        self.identity: Identity | None = None

    @property
    def user_id(self) -> str | None:
        return self.identity.user_id if self.identity else None

    @property
    def team_id(self) -> str | None:
        """The organisation's own workspace: requests from any other are refused."""
        return self.identity.team_id if self.identity else None

    @property
    def url(self) -> str | None:
        return self.identity.url if self.identity else None

    async def run(self, stop: asyncio.Event) -> None:
        delay = 1.0
        while not stop.is_set():
            try:
                resp = await self.client.auth_test()
                self.identity = Identity(
                    user_id=resp.get("user_id"),
                    bot_id=resp.get("bot_id"),
                    team_id=resp.get("team_id"),
                    url=resp.get("url"),
                )
                return
            except Exception as exc:
                log.warning("Slack auth.test failed (%s); retrying in %.0fs", exc, delay)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                delay = min(delay * 2, 60.0)

    def authorizer(self) -> Any:
        """Bolt's `authorize` callable."""

        async def authorize(
            enterprise_id: str | None, team_id: str | None, user_id: str | None
        ) -> AuthorizeResult:
            return self.authorize(enterprise_id, team_id, user_id)

        return authorize

    def authorize(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        """One workspace, one bot token: no network call per request (auth.test ran at start)."""
        ident = self.identity
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            bot_token=self.bot_token,
            bot_user_id=ident.user_id if ident else None,
            bot_id=ident.bot_id if ident else None,
            user_id=user_id,
        )
