"""Bolt's listeners for ownit: each only hands the delivery to the receiver (or App Home)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack import payloads as p
from handlers.slack import render as rs
from handlers.slack.receiving import Receiver


class _EnvTokenNotice(logging.Filter):
    """Drops bolt's "`token` will be unused" warning, logged at every start: bolt reads
    SLACK_BOT_TOKEN from the environment by itself and, given a client as well, warns that it
    ignores it. ownit hands the token to bolt through `authorize`, so the warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def make_bolt(*, api_url: str, signing_secret: str | None, authorize: Any) -> AsyncApp:
    logger = logging.getLogger("ownit.slack.bolt")
    if not any(isinstance(f, _EnvTokenNotice) for f in logger.filters):
        logger.addFilter(_EnvTokenNotice())
    return AsyncApp(
        name="ownit",
        client=AsyncWebClient(base_url=api_url),
        signing_secret=signing_secret or "",
        request_verification_enabled=bool(signing_secret),
        authorize=authorize,
        # Listeners only write to the inbox and acknowledge: run them before answering, so
        # the acknowledgement means "kept" (bolt's default would answer first and poll).
        process_before_response=True,
        logger=logger,
    )


def register(
    bolt: AsyncApp, receiver: Receiver, home_opened: Callable[[dict[str, Any]], None]
) -> None:
    """Bolt injects listener arguments by name, so each listener is a plain closure."""

    async def on_command(ack: Any, body: dict[str, Any]) -> None:
        await receiver.on_command(ack, body)

    async def on_action(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await receiver.on_action(ack, body, action)

    async def on_view(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await receiver.on_view(ack, body, view)

    async def on_shortcut(ack: Any, body: dict[str, Any]) -> None:
        await receiver.on_shortcut(ack, body)

    async def on_mention(body: dict[str, Any], event: dict[str, Any]) -> None:
        await receiver.on_mention(body, event)

    async def on_message(body: dict[str, Any], event: dict[str, Any]) -> None:
        await receiver.on_message(body, event)

    async def on_home(event: dict[str, Any]) -> None:
        home_opened(event)

    bolt.command(p.COMMAND)(on_command)
    bolt.action(re.compile(f"^{rs.ACTION_PREFIX}"))(on_action)
    bolt.view(re.compile("^ownit_"))(on_view)
    bolt.shortcut(p.SHORTCUT)(on_shortcut)
    bolt.event("app_mention")(on_mention)
    bolt.event("message")(on_message)
    bolt.event("app_home_opened")(on_home)
