"""Delivery to Slack: the outbox's notices as direct messages from the bot.

A request's first DM to its colleague is remembered on the request (`dm_channel`, `dm_message`),
so a reply in that DM's thread is known to be the answer, even after a restart.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from ownit.bot.delivery import Unreachable
from ownit.bot.messages import Message
from ownit.handlers import render_slack as rs
from ownit.storage.tables import Outbox, Person, Request

if TYPE_CHECKING:
    from ownit.handlers.slack import SlackBot

log = logging.getLogger(__name__)

REQUEST_DMS = ("request_new", "request_redirected_to_you")
GONE = {"user_not_found", "user_disabled", "account_inactive", "cannot_dm_bot", "user_not_visible"}


class SlackChannel:
    """Reaches everyone with a Slack id: a DM with the message, a thread link and buttons."""

    name = "slack"

    def __init__(self, bot: SlackBot) -> None:
        self.bot = bot
        self._dms: dict[str, str] = {}
        self.sent = 0

    def reaches(self, person: Person) -> bool:
        return person.slack_id is not None

    async def dm(self, user: str) -> str:
        channel = self._dms.get(user)
        if channel is None:
            try:
                resp = await self.bot.client.conversations_open(users=user)
            except SlackApiError as exc:
                error = exc.response.get("error")
                if error in GONE:
                    raise Unreachable(
                        f"their Slack account can't get messages ({error}); an admin can link "
                        "another account"
                    ) from exc
                raise
            channel = str(resp["channel"]["id"])
            self._dms[user] = channel
        return channel

    async def send(self, person: Person, msg: Message, row: Outbox) -> None:
        assert person.slack_id is not None
        channel = await self.dm(person.slack_id)
        link = await self.bot.thread_link(msg.case)
        resp = await self.bot.client.chat_postMessage(
            channel=channel,
            text=rs.fallback_text(msg),
            blocks=rs.message_blocks(msg, thread_link=link),
            unfurl_links=False,
        )
        ts = str(resp["ts"])
        self.sent += 1
        if row.request_id is not None:
            self.bot.remember_dm(channel, ts, row.request_id)
            if msg.kind in REQUEST_DMS:
                await self._record_dm(row.request_id, person, channel, ts)
        if row.case_id is not None:
            self.bot.mirror.kick(row.case_id)
        self.bot.home_changed(person)

    async def _record_dm(self, request_id: int, person: Person, channel: str, ts: str) -> None:
        async with self.bot.app.db.session() as s:
            req = await s.get(Request, request_id)
            if req is None:
                return
            mine = req.assignee_id == person.id
            if mine or req.dm_channel is None:
                req.dm_channel, req.dm_message = channel, ts
                s.add(req)
