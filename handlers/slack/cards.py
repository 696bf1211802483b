"""Case cards and request posts in Slack, kept in step with the database.

What should be in Slack is derived from the rows: a Slack case without a card gets one (its thread
becomes the case's home), a request of such a case without a post gets one in that thread, and a
card whose case changed is updated in place (`chat.update`). Posting is claimed in the database
first (`posting_since`), so a retry, a restart or a second replica never posts twice, and a claim
left by a crash expires and is taken again.

A request asked in a case that has its thread is claimed as it is made, and the process that
made it posts it at once from the rows its change held (`hand`); what is missing otherwise is
looked for (`CardPoster.waiting`) at start, every few seconds and when another replica announces
a change. A card is redrawn from one read of its case, with the people the change held.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Iterable
from contextlib import suppress
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.runtime.app import Ownit
from handlers.slack import render as rs
from handlers.slack.card_posting import CardPoster
from handlers.slack.card_reading import CardReader, Names, on_card
from handlers.slack.card_rows import CARD_REQUESTS, CardCase, CardRequest
from handlers.slack.drawn import Drawn
from storage.states import Platform
from storage.tables import Case, Person, Request, table_of

log = logging.getLogger(__name__)

REDRAW_EVERY = 1.0  # seconds: a case's card and posts are redrawn at most this often
DRAWN_KEPT = 10_000  # cases remembered as drawn (then those drawn long enough ago are let go)


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
        self.looks = True  # False: what Slack is missing is left for other processes to find
        self.redraw: dict[int, set[int]] = {}  # cases whose card to redraw, with posts to redraw
        self.touched: set[int] = set()  # requests whose post (and case card) to redraw
        self._look = True  # whether the next sync looks for what Slack is missing
        self._looked = -math.inf  # when it last looked (loop time)
        self.look_every = 5.0  # seconds: it looks at least this often, whatever it is told
        self._requests: dict[int, CardRequest] = {}  # handed by the changes since the last sync
        self._cases: dict[int, CardCase] = {}
        self._people: dict[int, Person] = {}
        self._made: set[int] = set()  # requests made here, to post from the rows handed
        self.drawn = Drawn()
        self._lock = asyncio.Lock()
        self.reader = CardReader(app)
        self.poster = CardPoster(app, client, self.reader, self.drawn, on_posted)
        self.syncs_started = 0  # counted so that a test can wait for one whole sync
        self.syncs_done = 0
        self._drawn: dict[int, float] = {}  # when each case was last redrawn (loop time)
        self._due = math.inf  # when the earliest redraw put off may be done

    def kick(self, case_id: int | None = None) -> None:
        """Redraw the card of `case_id`; without one, look for what Slack is missing (a new
        case's card, or what another process changed or left)."""
        if case_id is None:
            self._look = True
        else:
            self.redraw.setdefault(case_id, set())
        self.wake.set()

    def touch(self, request_id: int) -> None:
        """A request changed: its post and its case's card are redrawn."""
        self.touched.add(request_id)
        self.wake.set()

    def hand(self, rows: Iterable[object], made: Iterable[int]) -> None:
        """The rows a change here held once committed: its requests are placed in their cases
        without reading, those it `made` in a case with a thread are posted from these rows (they
        were claimed as they were made), and its people are named without reading them."""
        for row in rows:
            if isinstance(row, Request) and row.id is not None:
                self._requests[row.id] = CardRequest.of(row)
            elif isinstance(row, Case) and row.id is not None:
                self._cases[row.id] = CardCase.of(row)
            elif isinstance(row, Person) and row.id is not None:
                self._people[row.id] = row
        self._made.update(made)
        self.wake.set()

    async def run(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        """Sync when woken (looking for what is missing every `interval`); a redraw put off
        (`_sync`) is done when due."""
        loop = asyncio.get_running_loop()
        self.look_every = interval
        while not stop.is_set():
            self.wake.clear()  # before the sync: a kick during it asks for one more
            try:
                await self.sync()
            except Exception:
                log.exception("Slack card sync failed; retrying")
            if stop.is_set():
                return
            wait = interval
            if self.looks:
                wait = max(0.0, self._looked + interval - loop.time())
            if self.redraw or self.touched:
                wait = min(wait, max(0.0, self._due - loop.time()))
            with suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=wait)

    async def sync(self) -> None:
        """One sync; once one has left nothing put off, every sync begun before it is done."""
        self.syncs_started += 1
        started = self.syncs_started
        put_off = False
        try:
            put_off = await self._sync()
        finally:
            if not put_off:
                self.syncs_done = max(self.syncs_done, started)

    async def _sync(self) -> bool:
        """Look for what is missing when asked to; redraw what changed, then post the requests
        made here from the rows handed (their people read with the card's). A case drawn less
        than `REDRAW_EVERY` ago is redrawn when that is over, once for all its changes meanwhile
        (True: some were put off)."""
        async with self._lock:
            requests, self._requests = self._requests, {}
            known, self._cases = self._cases, {}
            made, self._made = self._made, set()
            names = Names()
            names.know(self._people.values())
            self._people = {}
            mine: list[tuple[CardRequest, CardCase]] = []
            for req_id in sorted(made):
                if found := await self._made_here(req_id, requests.get(req_id), known, names):
                    mine.append(found)
            loop_now = asyncio.get_running_loop().time()
            if self.looks and (self._look or loop_now - self._looked >= self.look_every):
                self._look, self._looked = False, loop_now
                try:
                    await self._post_missing(names)
                except Exception:  # the requests made here are still posted
                    log.exception("looking for what Slack is missing failed; will look again")
                    self._look = True
            touched, self.touched = self.touched, set()
            unplaced: set[int] = set()
            for req_id in touched:
                if (req := requests.get(req_id)) is None:
                    unplaced.add(req_id)
                elif req_id in made:  # its post is drawn from the rows handed, its card here
                    self.redraw.setdefault(req.case_id, set())
                else:
                    self.redraw.setdefault(req.case_id, set()).add(req_id)
            for case_id, placed in (await self._cases_of(unplaced)).items():
                self.redraw.setdefault(case_id, set()).update(placed)
            loop = asyncio.get_running_loop()
            self._due = math.inf
            if len(self._drawn) > DRAWN_KEPT:
                now = loop.time()
                self._drawn = {k: t for k, t in self._drawn.items() if now - t < REDRAW_EVERY}
            mine_by_case: dict[int, list[CardRequest]] = {}
            for req, case in mine:
                mine_by_case.setdefault(case.id, []).append(req)
            for case_id in sorted(self.redraw):
                now = loop.time()  # each draw's own: a sync of many cards takes a while
                due = self._drawn.get(case_id, -math.inf) + REDRAW_EVERY
                if due > now:
                    self._due = min(self._due, due)
                    continue
                redrawn = self.redraw.pop(case_id)
                self._drawn[case_id] = now
                also = mine_by_case.get(case_id, [])
                try:
                    await self.refresh(case_id, names, redrawn, also=also)
                except Exception:
                    log.exception("refreshing the card of case %s failed", case_id)
            for req, case in mine:
                await self.poster.post_made(req, case, names)
            return self._due < math.inf

    async def _post_missing(self, names: Names) -> None:
        cards, posts = await self.poster.waiting()
        if cards:
            await self.poster.post_cards(cards, names)
            _, posts = await self.poster.waiting()  # a new card's thread takes its requests now
        await self.poster.post_requests(posts, names)

    async def _made_here(
        self, req_id: int, req: CardRequest | None, cases: dict[int, CardCase], names: Names
    ) -> tuple[CardRequest, CardCase] | None:
        """A request made here, with its case, if it is to be posted at once: its case has a
        Slack thread (it was claimed as it was made). Else its case's card may have been posted
        meanwhile, so look."""
        case = cases.get(req.case_id) if req is not None else None
        if req is None or case is None:  # not handed with the change: read
            if (found := await self.reader.to_post(req_id, names)) is None:
                return None
            req, case = found
        if req.posting_since is None:
            self._look = True
        elif req.thread is None and _on_slack_thread(case):
            return req, case
        return None

    async def _cases_of(self, request_ids: set[int]) -> dict[int, set[int]]:
        """The touched requests by case."""
        if not request_ids:
            return {}
        table = table_of(Request)
        async with self.app.db.statements() as conn:
            rows = await conn.execute(
                select(table.c.case_id, table.c.id).where(table.c.id.in_(request_ids))
            )
            found: dict[int, set[int]] = {}
            for case_id, req_id in rows.all():
                found.setdefault(case_id, set()).add(req_id)
        return found

    # ----------------------------------------------------------------------- updating

    async def refresh(
        self,
        case_id: int,
        names: Names | None = None,
        posts: set[int] | None = None,
        *,
        also: Collection[CardRequest] = (),
    ) -> None:
        """Update the card of a case in place, and the posts of its requests `posts` (all of
        them when None), where they changed; the people of `also` are read with the card's."""
        case, card, lines = await self.reader.read(
            case_id, names or Names(), posts=posts, in_place=True, also=also
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
        mark = self.drawn.to_draw(channel, ts, blocks)
        if mark is None:
            return
        try:
            await self.client.chat_update(channel=channel, ts=ts, blocks=blocks, text=text)
        except SlackApiError as exc:
            if exc.response.get("error") not in ("message_not_found", "cant_update_message"):
                raise
            log.warning("could not update %s/%s: %s", channel, ts, exc.response.get("error"))
        self.drawn.keep(channel, ts, mark)

    # ----------------------------------------------------------------------- reading

    async def card(self, case_id: int, names: Names | None = None) -> tuple[rs.CaseCard, CardCase]:
        return await self.reader.card(case_id, names)


def _on_slack_thread(case: CardCase) -> bool:
    return case.platform == Platform.SLACK and bool(case.channel) and bool(case.thread)


__all__ = ["CARD_REQUESTS", "CaseMirror", "on_card"]
