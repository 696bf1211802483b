"""Case cards and request posts in Slack, kept in step with the database.

What should be in Slack is derived from the rows: a Slack case without a card gets one (its thread
becomes the case's home), a request of such a case without a post gets one in that thread, and a
card whose case changed is updated in place (`chat.update`). Posting is claimed in the database
first (`pending:<time>`), so a retry, a restart or a second replica never posts twice, and a claim
left by a crash expires and is taken again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import and_, or_
from sqlmodel import col, select, update

from ownit.bot.app import Ownit
from ownit.bot.directory import Rules, calendar_of, members, mention
from ownit.bot.ladder import OPEN_STATES
from ownit.bot.notices import when_for
from ownit.handlers import render_slack as rs
from ownit.storage.tables import Case, Person, Request, Team

log = logging.getLogger(__name__)

PENDING = "pending:"
CLAIM_SECONDS = 120
CANT_POST = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}


def _pending_expired() -> Any:
    return f"{PENDING}{int(time.time()) - CLAIM_SECONDS:012d}"


def _claim_value() -> str:
    return f"{PENDING}{int(time.time()):012d}"


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
        self.dirty: set[int] = set()
        self._seen: dict[tuple[str, str], str] = {}
        self._lock = asyncio.Lock()
        self.on_posted = on_posted

    def kick(self, case_id: int | None = None) -> None:
        if case_id is not None:
            self.dirty.add(case_id)
        self.wake.set()

    async def run(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        while not stop.is_set():
            await self.app.inbox.arrivals.make_way()
            try:
                await self.sync()
            except Exception:
                log.exception("Slack card sync failed; retrying")
            self.wake.clear()
            if stop.is_set():
                return
            if self.dirty:
                continue
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def sync(self) -> None:
        async with self._lock:
            await self._post_cards()
            await self._post_requests()
            dirty, self.dirty = self.dirty, set()
            for case_id in sorted(dirty):
                try:
                    await self.refresh(case_id)
                except Exception:
                    log.exception("refreshing the card of case %s failed", case_id)

    # ----------------------------------------------------------------------- posting

    async def _post_cards(self) -> None:
        async with self.app.db.reader() as s:
            waiting = (
                await s.exec(
                    select(Case.id).where(
                        Case.platform == "slack",
                        col(Case.channel).is_not(None),
                        or_(
                            col(Case.message).is_(None),
                            and_(
                                col(Case.message).startswith(PENDING),
                                col(Case.message) < _pending_expired(),
                            ),
                        ),
                    )
                )
            ).all()
        for case_id in waiting:
            assert case_id is not None
            if not await self._claim(Case, case_id, Case.message):
                continue
            try:
                await self._post_card(case_id)
            except Exception:
                log.exception("posting the card of case %s failed; will retry", case_id)
                await self._unclaim(Case, case_id, Case.message)

    async def _claim(self, table: Any, row_id: int, column: Any) -> bool:
        async with self.app.db.session() as s:
            res = await s.exec(
                update(table)
                .where(
                    col(table.id) == row_id,
                    or_(
                        col(column).is_(None),
                        and_(col(column).startswith(PENDING), col(column) < _pending_expired()),
                    ),
                )
                .values({column.key: _claim_value()})
            )
            return bool(res.rowcount == 1)

    async def _unclaim(self, table: Any, row_id: int, column: Any) -> None:
        async with self.app.db.session() as s:
            await s.exec(
                update(table)
                .where(col(table.id) == row_id, col(column).startswith(PENDING))
                .values({column.key: None})
            )

    async def _post_card(self, case_id: int) -> None:
        card, case = await self.card(case_id)
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
            s.add(fresh)
        self._seen[(channel, ts)] = _digest(blocks)
        if self.on_posted is not None:
            await self.on_posted(fresh)

    async def _post_elsewhere(self, case: Case, blocks: list[Any], text: str) -> Any:
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
        note = rs.context(
            "I could not post in the channel where this case was opened; invite me there "
            "(`/invite @ownit`) to keep cases in the channel. This DM is the case's home for now."
        )
        return await self.client.chat_postMessage(
            channel=dm["channel"]["id"], blocks=[*blocks, note], text=text, unfurl_links=False
        )

    async def _post_requests(self) -> None:
        async with self.app.db.reader() as s:
            rows = (
                await s.exec(
                    select(Request.id)
                    .join(Case, col(Case.id) == col(Request.case_id))
                    .where(
                        Case.platform == "slack",
                        col(Case.thread).is_not(None),
                        col(Case.thread).not_like(f"{PENDING}%"),
                        or_(
                            col(Request.thread).is_(None),
                            and_(
                                col(Request.thread).startswith(PENDING),
                                col(Request.thread) < _pending_expired(),
                            ),
                        ),
                    )
                    .order_by(col(Request.id))
                )
            ).all()
        for req_id in rows:
            assert req_id is not None
            log.debug("posting request %s in its case thread", req_id)
            if not await self._claim(Request, req_id, Request.thread):
                continue
            try:
                await self._post_request(req_id)
            except Exception:
                log.exception("posting request %s in its case thread failed; will retry", req_id)
                await self._unclaim(Request, req_id, Request.thread)

    async def _post_request(self, req_id: int) -> None:
        rules, now = await self.app.rules(), await self.app.clock.now()
        async with self.app.db.reader() as s:
            req = await s.get(Request, req_id)
            assert req is not None
            case = await s.get(Case, req.case_id)
            assert case is not None and case.channel and case.thread
            line = await self._line(s, req, rules, now)
        blocks = rs.request_post_blocks(line, case.key)
        resp = await self.client.chat_postMessage(
            channel=case.channel,
            thread_ts=case.thread,
            blocks=blocks,
            text=rs.request_post_text(line),
            unfurl_links=False,
        )
        ts = str(resp["ts"])
        async with self.app.db.session() as s:
            fresh = await s.get(Request, req_id)
            assert fresh is not None
            fresh.platform, fresh.channel, fresh.thread = "slack", case.channel, ts
            s.add(fresh)
        self._seen[(case.channel, ts)] = _digest(blocks)

    # ----------------------------------------------------------------------- updating

    async def refresh(self, case_id: int) -> None:
        """Update the card and the request posts of a case in place, where they changed."""
        card, case = await self.card(case_id)
        if case.platform != "slack" or not case.channel or not _posted(case.message):
            return
        assert case.message is not None
        await self._update(case.channel, case.message, rs.card_blocks(card), rs.card_text(card))
        rules, now = await self.app.rules(), await self.app.clock.now()
        async with self.app.db.reader() as s:
            reqs = (
                await s.exec(
                    select(Request).where(Request.case_id == case_id).order_by(col(Request.id))
                )
            ).all()
            lines = [(r, await self._line(s, r, rules, now)) for r in reqs]
        for req, line in lines:
            if req.channel and _posted(req.thread):
                assert req.thread is not None
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

    async def card(self, case_id: int) -> tuple[rs.CaseCard, Case]:
        rules, now = await self.app.rules(), await self.app.clock.now()
        async with self.app.db.reader() as s:
            case = await s.get(Case, case_id)
            if case is None:
                raise LookupError(f"no case {case_id}")
            owner = await s.get(Person, case.owner_id)
            assert owner is not None
            tz = calendar_of(owner, rules.calendar).tz
            reqs = (
                await s.exec(
                    select(Request).where(Request.case_id == case_id).order_by(col(Request.id))
                )
            ).all()
            shown = on_card(list(reqs))
            lines = [await self._line(s, r, rules, now) for r in shown]
        return (
            rs.CaseCard(
                key=case.key,
                customer=case.customer,
                summary=case.summary,
                owner=mention(owner),
                priority=case.priority,
                status=case.status,
                promise_at=case.promise_at,
                promise_text=when_for(case.promise_at, tz) if case.promise_at else "",
                promise_what=case.promise_text,
                promise_kept=case.promise_kept,
                handoffs=case.handoffs,
                requests=lines,
                more=len(reqs) - len(shown),
            ),
            case,
        )

    async def _line(self, s: Any, r: Request, rules: Rules, now: datetime) -> rs.RequestLine:
        """One request as the card shows it (read inside the caller's session: no nesting)."""
        assignee = await s.get(Person, r.assignee_id) if r.assignee_id else None
        team = await s.get(Team, r.team_id) if r.team_id else None
        asker = await s.get(Person, r.asked_by_id)
        answered = await s.get(Person, r.answered_by_id) if r.answered_by_id else None
        if assignee is not None:
            target: Any = mention(assignee)
        elif team is not None:
            target = f"the {team.name} team"
            if not await members(s, team):
                target += " (no members)"
        else:
            target = "someone"
        tz = calendar_of(assignee or team, rules.calendar).tz
        return rs.RequestLine(
            key=r.key,
            target=target,
            asked_by=mention(asker) if asker else None,
            question=r.question,
            status=r.status,
            deadline=r.deadline,
            deadline_text=when_for(r.deadline, tz),
            eta=r.eta,
            eta_text=when_for(r.eta, tz) if r.eta else "",
            answer=r.answer,
            answered_by=mention(answered) if answered else None,
            late=_late(r.deadline, now),
            pending=r.pending_deadline is not None,
        )


def _late(deadline: datetime, now: datetime) -> bool:
    return deadline < now


def _posted(ts: str | None) -> bool:
    return bool(ts) and not str(ts).startswith(PENDING)


CARD_REQUESTS = 20


def on_card(reqs: list[Request]) -> list[Request]:
    """The requests a card lists: every open one, then the latest closed ones, up to
    `CARD_REQUESTS` in all (Slack takes 50 blocks a message), in the order they were asked."""
    if len(reqs) <= CARD_REQUESTS:
        return reqs
    keep = {id(r) for r in reqs if r.status in OPEN_STATES}
    for r in reversed(reqs):
        if len(keep) >= CARD_REQUESTS:
            break
        keep.add(id(r))
    return [r for r in reqs if id(r) in keep]


def _digest(blocks: list[Any]) -> str:
    return hashlib.sha256(json.dumps(blocks, sort_keys=True).encode()).hexdigest()
