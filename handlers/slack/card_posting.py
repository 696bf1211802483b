"""Posting what Slack is missing: a card for each Slack case without one (its thread becomes the
case's home), and a post in that thread for each request of such a case.

Each post is claimed in the database first (`posting_since`), so a retry, a restart or a second
replica never posts twice, and a claim left by a crash expires and is taken again. A request
asked in a case with a thread is claimed as it is made (`post_made`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import literal, union_all
from sqlmodel import col, select

from bot.figures import execute
from bot.runtime.app import Ownit
from handlers.slack import render as rs
from handlers.slack.card_claims import claim, unclaim, unclaimed
from handlers.slack.card_reading import CardReader, Names, request_line
from handlers.slack.card_rows import CardCase, CardRequest, recorded_post
from handlers.slack.drawn import Drawn
from handlers.slack.wording import say
from storage.states import Platform
from storage.tables import Case, Person, Request

log = logging.getLogger(__name__)

CANT_POST = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}


class CardPoster:
    def __init__(
        self,
        app: Ownit,
        client: AsyncWebClient,
        reader: CardReader,
        drawn: Drawn,
        on_posted: Callable[[Case], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.client = client
        self.reader = reader
        self.drawn = drawn
        self.on_posted = on_posted

    async def waiting(self) -> tuple[list[int], list[int]]:
        """The cases still without a card and the requests still without a post (or whose claim
        expired), in one query."""
        cards = select(literal("card"), col(Case.id)).where(
            Case.platform == Platform.SLACK,
            col(Case.channel).is_not(None),
            unclaimed(Case, Case.message),
        )
        posts = (
            select(literal("post"), col(Request.id))
            .join(Case, col(Case.id) == col(Request.case_id))
            .where(
                Case.platform == Platform.SLACK,
                col(Case.thread).is_not(None),
                unclaimed(Request, Request.thread),
            )
        )
        async with self.app.db.reader() as s:
            rows = (await execute(s, union_all(cards, posts))).all()
        return (
            sorted(row_id for kind, row_id in rows if kind == "card"),
            sorted(row_id for kind, row_id in rows if kind == "post"),
        )

    async def post_cards(self, waiting: list[int], names: Names) -> None:
        for case_id in waiting:
            assert case_id is not None
            if not await self._claim(Case, case_id, Case.message):
                continue
            try:
                await self._post_card(case_id, names)
            except Exception:
                log.exception("posting the card of case %s failed; will retry", case_id)
                await self._unclaim(Case, case_id)

    async def _claim(self, table: Any, row_id: int, column: Any) -> bool:
        async with self.app.db.single() as s:
            return await claim(s, table, row_id, column)

    async def _unclaim(self, table: Any, row_id: int) -> None:
        async with self.app.db.single() as s:
            await unclaim(s, table, row_id)

    async def _post_card(self, case_id: int, names: Names) -> None:
        card, case = await self.reader.card(case_id, names)
        assert case.channel is not None
        blocks, text = rs.card_blocks(card), rs.card_text(card)
        try:
            resp = await self.client.chat_postMessage(
                channel=case.channel, blocks=blocks, text=text, unfurl_links=False
            )
        except SlackApiError as exc:
            if exc.response.get("error") not in CANT_POST:
                raise
            resp = await self._post_elsewhere(case, blocks, text)
        ts = str(resp["ts"])
        channel = str(resp["channel"])
        async with self.app.db.session() as s:
            fresh = await s.get(Case, case_id)
            assert fresh is not None
            fresh.channel, fresh.thread, fresh.message = channel, ts, ts
            fresh.posting_since = None
            s.add(fresh)
        self.drawn.drew(channel, ts, blocks)
        if self.on_posted is not None:
            await self.on_posted(fresh)

    async def _post_elsewhere(self, case: CardCase, blocks: list[Any], text: str) -> Any:
        """The channel refused the bot: try joining it, else put the card in the owner's DM."""
        assert case.channel is not None
        try:
            await self.client.conversations_join(channel=case.channel)
            return await self.client.chat_postMessage(
                channel=case.channel, blocks=blocks, text=text, unfurl_links=False
            )
        except SlackApiError:
            pass
        async with self.app.db.reader() as s:
            owner = await s.get(Person, case.owner_id)
        if owner is None or owner.slack_id is None:
            raise RuntimeError(f"{case.key}: no channel to post its card in")
        dm = await self.client.conversations_open(users=owner.slack_id)
        note = rs.context(say("slack_cant_post_in_channel"))
        return await self.client.chat_postMessage(
            channel=dm["channel"]["id"], blocks=[*blocks, note], text=text, unfurl_links=False
        )

    async def post_requests(self, rows: list[int], names: Names) -> None:
        for req_id in rows:
            log.debug("posting request %s in its case thread", req_id)
            try:
                await self._post_request(req_id, names)
            except Exception:
                log.exception("posting request %s in its case thread failed; will retry", req_id)

    async def _post_request(self, req_id: int, names: Names) -> None:
        """Claim the request (one statement, committed at once: a claim left by a crash expires)
        and read it with its case, people and team, then post it (a failed post gives the claim
        back)."""
        rules, now = await self.app.rules(), await self.app.clock.now()
        if not await self._claim(Request, req_id, Request.thread):
            return
        try:
            found = await self.reader.to_post(req_id, names)
            assert found is not None
            req, case = found
            assert case.channel and case.thread
            await self._post_line(req_id, case, request_line(req, names, rules, now))
        except Exception:
            await self._unclaim(Request, req_id)
            raise

    async def post_made(self, req: CardRequest, case: CardCase, names: Names) -> None:
        """Post a request made by this process in a case with a thread: it was claimed as it was
        made, and it comes with its case and people as the change held them, so nothing is read
        again (but whoever `names` lacks). A failed post gives the claim back."""
        rules, now = await self.app.rules(), await self.app.clock.now()
        try:
            if any(names.missing([req])):
                async with self.app.db.reader() as s:
                    await names.load(s, [req])
            await self._post_line(req.id, case, request_line(req, names, rules, now))
        except Exception:
            log.exception("posting request %s in its case thread failed; will retry", req.id)
            await self._unclaim(Request, req.id)

    async def _post_line(self, req_id: int, case: CardCase, line: rs.RequestLine) -> None:
        assert case.channel and case.thread
        blocks = rs.request_post_blocks(line, case.key)
        resp = await self.client.chat_postMessage(
            channel=case.channel,
            thread_ts=case.thread,
            blocks=blocks,
            text=rs.request_post_text(line),
            unfurl_links=False,
        )
        ts = str(resp["ts"])
        to = {"to_platform": Platform.SLACK, "to_channel": case.channel, "to_thread": ts}
        await self.app.db.batch(recorded_post(), {"request": req_id, **to})
        self.drawn.drew(case.channel, ts, blocks)
