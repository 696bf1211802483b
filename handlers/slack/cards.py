"""Case cards and request posts in Slack, kept in step with the database.

What should be in Slack is derived from the rows: a Slack case without a card gets one (its thread
becomes the case's home), a request of such a case without a post gets one in that thread, and a
card whose case changed is updated in place (`chat.update`). Posting is claimed in the database
first (`posting_since`), so a retry, a restart or a second replica never posts twice, and a claim
left by a crash expires and is taken again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import col, select

from bot.runtime.app import Ownit
from handlers.slack import render as rs
from handlers.slack.card_posting import CardPoster
from handlers.slack.card_reading import (
    CARD_REQUESTS,
    CardReader,
    Names,
    on_card,
)
from storage.tables import Case, Request

log = logging.getLogger(__name__)


class CaseMirror:
    def __init__(
        self,
        app: Ownit,
        client: AsyncWebClient,
        *,
        on_posted: Callable[[Case], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.client = client
        self.wake = asyncio.Event()
        self.dirty: set[int] = set()  # cases whose card to redraw
        self.touched: set[int] = set()  # requests whose post (and case card) to redraw
        self._seen: dict[tuple[str, str], str] = {}
        self._lock = asyncio.Lock()
        self.reader = CardReader(app)
        self.poster = CardPoster(app, client, self.reader, self._seen, _digest, on_posted)
        self.syncs_started = 0  # counted so that a test can wait for one whole sync
        self.syncs_done = 0

    def kick(self, case_id: int | None = None) -> None:
        if case_id is not None:
            self.dirty.add(case_id)
        self.wake.set()

    def touch(self, request_id: int) -> None:
        """A request changed: its post and its case's card are redrawn."""
        self.touched.add(request_id)
        self.wake.set()

    async def run(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        while not stop.is_set():
            await self.app.inbox.arrivals.make_way()
            self.wake.clear()  # before the sync: a kick during it asks for one more
            try:
                await self.sync()
            except Exception:
                log.exception("Slack card sync failed; retrying")
            if stop.is_set():
                return
            if self.dirty or self.touched:
                continue
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def sync(self) -> None:
        self.syncs_started += 1
        try:
            await self._sync()
        finally:
            self.syncs_done += 1

    async def _sync(self) -> None:
        async with self._lock:
            names = Names()
            cards, posts = await self.poster.waiting()
            if cards:
                await self.poster.post_cards(cards, names)
                _, posts = await self.poster.waiting()  # a new card's thread takes its requests now
            await self.poster.post_requests(posts, names)
            dirty, self.dirty = self.dirty, set()
            touched, self.touched = self.touched, set()
            names = Names()  # read after the changes just taken: posting may have taken a while
            posts_of = await self._cases_of(touched)
            for case_id in sorted(dirty | set(posts_of)):
                try:
                    await self.refresh(case_id, names, posts_of.get(case_id, set()))
                except Exception:
                    log.exception("refreshing the card of case %s failed", case_id)

    async def _cases_of(self, request_ids: set[int]) -> dict[int, set[int]]:
        """The touched requests by case."""
        if not request_ids:
            return {}
        async with self.app.db.reader() as s:
            rows = await s.exec(
                select(Request.case_id, Request.id).where(col(Request.id).in_(request_ids))
            )
            found: dict[int, set[int]] = {}
            for case_id, req_id in rows.all():
                if req_id is not None:
                    found.setdefault(case_id, set()).add(req_id)
        return found

    # ----------------------------------------------------------------------- updating

    async def refresh(
        self, case_id: int, names: Names | None = None, posts: set[int] | None = None
    ) -> None:
        """Update the card of a case in place, and the posts of its requests `posts` (all of
        them when None), where they changed."""
        case, card, lines = await self.reader.read(
            case_id, names or Names(), posts=posts, in_place=True
        )
        if card is None:
            return
        assert case.channel is not None and case.message is not None
        await self._update(case.channel, case.message, rs.card_blocks(card), rs.card_text(card))
        for req, line in lines:
            assert req.channel is not None and req.thread is not None
            await self._update(
                req.channel,
                req.thread,
                rs.request_post_blocks(line, case.key),
                rs.request_post_text(line),
            )

    async def _update(self, channel: str, ts: str, blocks: list[Any], text: str) -> None:
        digest = _digest(blocks)
        if self._seen.get((channel, ts)) == digest:
            return
        try:
            await self.client.chat_update(channel=channel, ts=ts, blocks=blocks, text=text)
        except SlackApiError as exc:
            if exc.response.get("error") not in ("message_not_found", "cant_update_message"):
                raise
            log.warning("could not update %s/%s: %s", channel, ts, exc.response.get("error"))
        self._seen[(channel, ts)] = digest

    # ----------------------------------------------------------------------- reading

    async def card(self, case_id: int, names: Names | None = None) -> tuple[rs.CaseCard, Case]:
        return await self.reader.card(case_id, names)


def _digest(blocks: list[Any]) -> str:
    return hashlib.sha256(json.dumps(blocks, sort_keys=True).encode()).hexdigest()


__all__ = ["CARD_REQUESTS", "CaseMirror", "on_card"]
