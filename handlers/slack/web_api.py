"""The Slack Web API client ownit uses: its address, timeouts and what it retries."""

from __future__ import annotations

from typing import Any

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime.config import Settings

DEFAULT_API = "https://slack.com/api/"
HTTP_TIMEOUT = 30.0


def make_client(settings: Settings) -> AsyncWebClient:
    """A Web API client that waits out 429s (Retry-After) and retries dropped connections."""
    return AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url or DEFAULT_API,
        timeout=int(HTTP_TIMEOUT),
        retry_handlers=retry_handlers(),
    )


def retry_handlers() -> list[Any]:
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncConnectionErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]
