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
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Update, bindparam, or_, update

from bot.charts import decode_chart
from bot.messages import Message
from bot.runtime.delivery import Unreachable
from bot.runtime.outbox import Notice, Record
from handlers.slack import render as rs
from handlers.slack.wording import say
from storage.db import Database
from storage.states import Platform
from storage.tables import Person, Request, table_of

log = logging.getLogger(__name__)

REQUEST_DMS = ("request_new", "request_redirected_to_you")
UPLOAD_BUDGET = 20.0  # seconds for the three steps of a chart upload, retries included
KEEP_AT_MOST = 50_000
REQUEST = table_of(Request)
GONE = {"user_not_found", "user_disabled", "account_inactive", "cannot_dm_bot", "user_not_visible"}


class SlackChannel:
    """Reaches everyone with a Slack id: a DM with the message, a thread link and buttons.

    Handed only what it uses: the Web API, the database (to record a request's DM), the thread
    links, and whom to tell that a case or a person's overview changed."""

    name: str = Platform.SLACK

    def __init__(
        self,
        client: AsyncWebClient,
        db: Database,
        *,
        thread_link: Callable[[str | None], Awaitable[str | None]],
        person_changed: Callable[[Person], None],
        link_by_email: Callable[[Person], Awaitable[str | None]] | None = None,
    ) -> None:
        self.client = client
        self.db = db
        self.thread_link = thread_link
        self.person_changed = person_changed
        self.link_by_email = link_by_email
        self._dms: dict[str, str] = {}
        self._sent_dms: dict[tuple[str, str], int] = {}
        self.sent = 0

    def reaches(self, person: Person) -> bool:
        return person.slack_id is not None

    async def link(self, person: Person) -> bool:
        """Find the Slack user of someone without one, by e-mail, before they are called
        unreachable: the start's pass over the org file may not have come to them yet."""
        if self.link_by_email is None or person.slack_id is not None:
            return False
        found = await self.link_by_email(person)
        if found is None:
            return False
        person.slack_id = found
        return True

    async def dm(self, user: str) -> str:
        channel = self._dms.get(user)
        if channel is None:
            try:
                resp = await self.client.conversations_open(users=user)
            except SlackApiError as exc:
                error = exc.response.get("error")
                if error in GONE:
                    raise Unreachable(say("slack_unreachable", error=error)) from exc
                raise
            channel = str(resp["channel"]["id"])
            self._dms[user] = channel
        return channel

    def request_of_dm(self, channel: str, ts: str) -> int | None:
        """The request a DM sent by this process was about (before the database has it)."""
        return self._sent_dms.get((channel, ts))

    def _remember_dm(self, channel: str, ts: str, request_id: int) -> None:
        if len(self._sent_dms) > KEEP_AT_MOST:
            self._sent_dms.clear()
        self._sent_dms[(channel, ts)] = request_id

    async def send(self, person: Person, msg: Message, row: Notice) -> Record | None:
        assert person.slack_id is not None
        channel = await self.dm(person.slack_id)
        link = await self.thread_link(msg.case)
        resp = await self.client.chat_postMessage(
            channel=channel,
            text=rs.fallback_text(msg),
            blocks=rs.message_blocks(msg, thread_link=link),
            unfurl_links=False,
        )
        ts = str(resp["ts"])
        self.sent += 1
        record: Record | None = None
        if row.request_id is not None:
            self._remember_dm(channel, ts, row.request_id)
            if msg.kind in REQUEST_DMS:
                record = _dm_of(row.request_id, person, channel, ts)
        self.person_changed(person)
        if msg.extra.get("chart"):
            await self._upload_chart(channel, msg.extra)
        return record

    async def _upload_chart(self, channel: str, extra: dict[str, Any]) -> None:
        """The chart's PNG into the DM, below the text; a failure costs only the picture."""
        try:
            png = decode_chart(extra)
            if png is None:
                return
            chart = extra["chart"]
            async with asyncio.timeout(UPLOAD_BUDGET):
                await self.client.files_upload_v2(
                    channel=channel,
                    file=png,
                    filename=str(chart.get("filename") or "ownit-chart.png"),
                    title=str(chart.get("title") or "Chart"),
                    alt_txt=str(chart.get("alt") or "") or None,
                )
        except Exception as exc:  # SlackApiError, SlackRequestError, network errors, timeout
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
            log.warning("chart upload to %s failed (%s); the text was sent", channel, error)


def _dm_of(request_id: int, person: Person, channel: str, ts: str) -> Record:
    """The request's DM is the assignee's, else the first one sent (one conditional update,
    written with the mark that the notice was sent)."""
    params = {"dm_request": request_id, "dm_person": person.id, "dm_in": channel, "dm_ts": ts}
    return Record(_recording_dm(), params)


@cache
def _recording_dm() -> Update:
    """`_dm_of`'s UPDATE, built once."""
    c = REQUEST.c
    return (
        update(REQUEST)
        .where(
            c.id == bindparam("dm_request"),
            or_(c.assignee_id == bindparam("dm_person"), c.dm_channel.is_(None)),
        )
        .values(dm_channel=bindparam("dm_in"), dm_message=bindparam("dm_ts"))
    )
