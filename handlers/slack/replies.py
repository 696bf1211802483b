"""Answers to the person who acted, where they acted: on the command's acknowledgement when it
is still waiting, else its `response_url`, an ephemeral message in the channel, a message in their
DM (thread kept), else a new DM."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.commands import grammar as c
from bot.commands.service import Reply
from bot.messages import Message
from handlers.slack import render as rs
from handlers.slack.payloads import Where
from handlers.slack.web_api import retry_handlers

log = logging.getLogger(__name__)


def for_actor(
    reply: Reply, command: c.Command | None, *, in_case_thread: bool = False
) -> list[Message]:
    """What the person who acted should see: everything, except what goes public anyway."""
    out = []
    for m in reply.messages:
        if reply.ok and m.kind == "case_opened" and isinstance(command, c.Open):
            continue
        if reply.ok and m.kind == "request_opened" and in_case_thread:
            continue
        out.append(m)
    return out


def ephemeral(msgs: list[Message]) -> dict[str, Any]:
    """Messages as the body of an acknowledgement only the person sees ({} for none)."""
    if not msgs:
        return {}
    return {
        "text": rs.many_text(msgs),
        "blocks": rs.many_blocks(msgs),
        "response_type": "ephemeral",
    }


class Replies:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        http_session: Callable[[], aiohttp.ClientSession | None],
        dm: Callable[[str], Awaitable[str]],
    ) -> None:
        self.client = client
        self.http_session = http_session
        self.dm = dm
        self._awaited: dict[str, asyncio.Future[list[Message] | None]] = {}

    def await_answer(self, response_url: str) -> None:
        """The acknowledgement of the command with this `response_url` waits for its answer
        (`answer`), which then rides on it: no request of its own, and shown at once."""
        self._awaited[response_url] = asyncio.get_running_loop().create_future()

    async def answer(self, response_url: str, seconds: float) -> list[Message] | None:
        """What the command is answered within `seconds` (None: not by then, or not awaited;
        `tell` then sends it to the `response_url` as before)."""
        waiting = self._awaited.get(response_url)
        if waiting is None:
            return None
        timer = asyncio.get_running_loop().call_later(seconds, self.give_up, response_url)
        try:
            return await waiting
        finally:
            timer.cancel()
            self.give_up(response_url)

    def give_up(self, response_url: str) -> None:
        """The acknowledgement goes without the answer (late, a retry, or not kept)."""
        waiting = self._awaited.pop(response_url, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    async def tell(self, where: Where, msgs: list[Message]) -> None:
        """Show messages to one person where they acted: on the acknowledgement still waiting,
        the response_url, ephemeral, else a DM."""
        if where.response_url and (waiting := self._awaited.pop(where.response_url, None)):
            if not waiting.done():
                waiting.set_result(msgs)
                return
        if not msgs:
            return
        text, blocks = rs.many_text(msgs), rs.many_blocks(msgs)
        if where.response_url and await self._respond(where.response_url, text, blocks):
            return
        if where.channel and where.channel.startswith("D"):
            try:
                await self.client.chat_postMessage(
                    channel=where.channel, thread_ts=where.thread, text=text, blocks=blocks
                )
                return
            except SlackApiError as exc:
                log.warning("posting in DM %s failed: %s", where.channel, exc)
        elif where.channel:
            try:
                await self.client.chat_postEphemeral(
                    channel=where.channel,
                    user=where.user,
                    thread_ts=where.thread,
                    text=text,
                    blocks=blocks,
                )
                return
            except SlackApiError as exc:
                log.warning("ephemeral in %s failed: %s", where.channel, exc)
        dm = await self.dm(where.user)
        await self.client.chat_postMessage(channel=dm, text=text, blocks=blocks)

    async def _respond(self, url: str, text: str, blocks: list[rs.Block]) -> bool:
        try:
            hook = AsyncWebhookClient(
                url, session=self.http_session(), retry_handlers=retry_handlers()
            )
            resp = await hook.send(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=False
            )
            if resp.status_code == 200:
                return True
            log.warning("response_url answered %s", resp.status_code)
        except Exception as exc:
            log.warning("response_url failed: %s", exc)
        return False


async def open_form(client: AsyncWebClient, trigger_id: str | None, view: dict[str, Any]) -> None:
    """Open a modal for the person whose click or command gave the trigger (valid for 3 s)."""
    if not trigger_id:
        return
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc.response.get("error"))
