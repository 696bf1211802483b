"""Delivery to Slack: the outbox's notices as direct messages from the bot.

A request's first DM to its colleague is remembered on the request (`dm_channel`, `dm_message`),
so a reply in that DM's thread is known to be the answer, even after a restart.

A message with a chart (`msg.extra["chart"]`, the weekly digest) has its PNG uploaded into the same
DM after the text (`files_upload_v2`: files.getUploadURLExternal, the bytes to the upload URL,
files.completeUploadExternal). The text goes first and stands on its own: a failed upload is
logged, not retried, so the digest is neither lost nor sent twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from sqlalchemy import or_
from sqlmodel import col, update

from bot.charts import decode_chart
from bot.messages import Message
from bot.runtime.delivery import Unreachable
from handlers.slack import render as rs
from storage.tables import Outbox, Person, Request

if TYPE_CHECKING:
    from handlers.slack.adapter import SlackBot

log = logging.getLogger(__name__)

REQUEST_DMS = ("request_new", "request_redirected_to_you")
UPLOAD_BUDGET = 20.0  # seconds for the three steps of a chart upload, retries included
GONE = {"user_not_found", "user_disabled", "account_inactive", "cannot_dm_bot", "user_not_visible"}


class SlackChannel:
    """Reaches everyone with a Slack id: a DM with the message, a thread link and buttons."""

    name = "slack"

    def __init__(self, bot: SlackBot) -> None:
        self.bot = bot
        self._dms: dict[str, str] = {}
        self._links: dict[tuple[str, str | None], str] = {}
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

    async def thread_link(self, case_key: str | None) -> str | None:
        """The link to a case's thread, remembered once the card is posted (it never moves) for
        as long as the workspace's address is the same."""
        if not case_key:
            return None
        key = (case_key, self.bot.identity.url if self.bot.identity else None)
        link = self._links.get(key)
        if link is None:
            link = await self.bot.thread_link(case_key)
            if link is not None:
                if len(self._links) > 50_000:
                    self._links.clear()
                self._links[key] = link
        return link

    async def send(self, person: Person, msg: Message, row: Outbox) -> None:
        assert person.slack_id is not None
        channel = await self.dm(person.slack_id)
        link = await self.thread_link(msg.case)
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
        if msg.extra.get("chart"):
            await self._upload_chart(channel, msg.extra)

    async def _upload_chart(self, channel: str, extra: dict[str, Any]) -> None:
        """The chart's PNG into the DM, below the text; a failure costs only the picture."""
        try:
            png = decode_chart(extra)
            if png is None:
                return
            chart = extra["chart"]
            async with asyncio.timeout(UPLOAD_BUDGET):
                await self.bot.client.files_upload_v2(
                    channel=channel,
                    file=png,
                    filename=str(chart.get("filename") or "ownit-chart.png"),
                    title=str(chart.get("title") or "Chart"),
                    alt_txt=str(chart.get("alt") or "") or None,
                )
        except Exception as exc:  # SlackApiError, SlackRequestError, network errors, timeout
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
            log.warning("chart upload to %s failed (%s); the text was sent", channel, error)

    async def _record_dm(self, request_id: int, person: Person, channel: str, ts: str) -> None:
        """The request's DM is the assignee's, else the first one sent (one conditional update)."""
        async with self.bot.app.db.session() as s:
            await s.exec(
                update(Request)
                .where(
                    col(Request.id) == request_id,
                    or_(col(Request.assignee_id) == person.id, col(Request.dm_channel).is_(None)),
                )
                .values(dm_channel=channel, dm_message=ts)
            )
