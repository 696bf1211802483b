"""Calls to the Bot Connector service (the Teams side of every send), retried with backoff.

Every outgoing call (a reply, a proactive post, a card update, a member lookup, a new personal
conversation) goes through `Connector`, which honours 429 `Retry-After` and retries transient
failures with exponential backoff and jitter. msrest's own urllib3 retries are switched off so
that this is the one retry policy, and it is the same for replies and proactive sends.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationParameters,
    ErrorResponseException,
)
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
)
from msrest.exceptions import ClientRequestError, HttpOperationError

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})


class ConnectorError(Exception):
    """A connector call that failed for good; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return int(code) if code is not None else None


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class Connector:
    """The Bot Connector for one bot identity, with retries; clients are cached per service URL."""

    def __init__(
        self,
        auth: BotFrameworkAuthentication,
        app_id: str | None,
        *,
        attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.auth = auth
        self.app_id = app_id or None
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self._clients: dict[str, ConnectorClient] = {}

    async def client(self, service_url: str) -> ConnectorClient:
        found = self._clients.get(service_url)
        if found is not None:
            return found
        claims = (
            {
                AuthenticationConstants.AUDIENCE_CLAIM: self.app_id,
                AuthenticationConstants.APP_ID_CLAIM: self.app_id,
            }
            if self.app_id
            else {}
        )
        factory = self.auth.create_connector_factory(ClaimsIdentity(claims, True))
        client = await factory.create(service_url, None)
        client.config.retry_policy.retries = 0
        self._clients[service_url] = client
        return client

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After is a floor, not a hint."""
        backoff = random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        if retry_after is not None:
            return min(self.max_delay, retry_after) + backoff / 2
        return backoff

    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            try:
                return await fn()
            except (ErrorResponseException, HttpOperationError) as exc:
                status = _status(exc)
                if status not in TRANSIENT or last:
                    raise ConnectorError(f"{what}: HTTP {status}", status) from exc
                wait = self.delay(attempt, _retry_after(exc))
            except (ClientRequestError, OSError, TimeoutError) as exc:
                if last:
                    raise ConnectorError(f"{what}: {type(exc).__name__}: {exc}") from exc
                wait = self.delay(attempt, None)
            log.info("connector %s failed (attempt %d); retrying in %.2fs", what, attempt + 1, wait)
            await self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(self, service_url: str, conversation_id: str, activity: Activity) -> str | None:
        """Post an activity to a conversation (a channel thread when the id has `;messageid=`)."""
        client = await self.client(service_url)
        result = await self.call(
            "send",
            lambda: client.conversations.send_to_conversation(conversation_id, activity),
        )
        return getattr(result, "id", None)

    async def update(
        self, service_url: str, conversation_id: str, activity_id: str, activity: Activity
    ) -> None:
        client = await self.client(service_url)
        activity.id = activity_id
        await self.call(
            "update",
            lambda: client.conversations.update_activity(conversation_id, activity_id, activity),
        )

    async def member(
        self, service_url: str, conversation_id: str, member_id: str
    ) -> dict[str, Any] | None:
        """A conversation member's profile (AAD object id, e-mail, UPN); None if not found."""
        client = await self.client(service_url)
        try:
            found = await self.call(
                "member",
                lambda: client.conversations.get_conversation_member(conversation_id, member_id),
            )
        except ConnectorError as exc:
            log.info("member lookup of %s failed: %s", member_id, exc)
            return None
        data = found.serialize() if hasattr(found, "serialize") else {}
        extra = getattr(found, "additional_properties", None) or {}
        return {**extra, **data}

    async def create_personal(
        self, service_url: str, *, tenant_id: str | None, bot: dict[str, Any], user: dict[str, Any]
    ) -> str:
        """Open (or find) the bot's one-to-one chat with a user; returns its conversation id."""
        client = await self.client(service_url)
        params = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=bot.get("id"), name=bot.get("name")),
            members=[ChannelAccount(id=user.get("id"), name=user.get("name"))],
            tenant_id=tenant_id,
            channel_data={"tenant": {"id": tenant_id}} if tenant_id else None,
        )
        result = await self.call(
            "create_conversation", lambda: client.conversations.create_conversation(params)
        )
        conversation_id = getattr(result, "id", None)
        if not conversation_id:
            raise ConnectorError("create_conversation: no conversation id returned")
        return str(conversation_id)
