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
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import and_, bindparam, func, literal, or_, union, union_all
from sqlalchemy import select as core_select
from sqlalchemy.orm import aliased
from sqlmodel import col, select, update

from bot.directory import Rules, calendar_of, mention
from bot.figures import execute
from bot.ladder import OPEN_STATES
from bot.notices import when_for
from bot.runtime.app import Ownit
from handlers.slack import render as rs
from storage.tables import Case, Membership, Person, Request, Team

log = logging.getLogger(__name__)

PENDING = "pending:"
CLAIM_SECONDS = 120
CANT_POST = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}


def _pending_expired() -> Any:
    return f"{PENDING}{int(time.time()) - CLAIM_SECONDS:012d}"


async def _claim(s: Any, table: Any, row_id: int, column: Any) -> bool:
    """Mark the row as being posted (`pending:<time>`) unless it is posted or someone is at it."""
    res = await s.exec(
        update(table)
        .where(col(table.id) == row_id, _unclaimed(column))
        .values({column.key: _claim_value()})
    )
    return bool(res.rowcount == 1)


def _unclaimed(column: Any) -> Any:
    """Nothing posted and nobody posting: no value, or a claim older than `CLAIM_SECONDS`."""
    return or_(
        col(column).is_(None),
        and_(col(column).startswith(PENDING), col(column) < _pending_expired()),
    )


@cache
def _request_to_post() -> Any:
    """A request with its case, asker and assignee: built once, since each alias of a table
    copies its columns into reference cycles that only the garbage collector frees."""
    asker, assignee = aliased(Person), aliased(Person)
    return (
        select(Request, Case, asker, assignee)
        .join(Case, col(Case.id) == col(Request.case_id))
        .outerjoin(asker, col(asker.id) == col(Request.asked_by_id))
        .outerjoin(assignee, col(assignee.id) == col(Request.assignee_id))
        .where(col(Request.id) == bindparam("id"))
    )


def _claim_value() -> str:
    return f"{PENDING}{int(time.time()):012d}"


@dataclass
class Names:
    """The people and teams that one sync's cards and posts name, each read once, in batches.

    A session's identity map forgets a row as soon as nothing holds it, so `get` by `get` a card
    read the same asker and assignee again for every line.
    """

    people: dict[int, Person] = field(default_factory=dict)
    teams: dict[int, Team] = field(default_factory=dict)
    staffed: set[int] = field(default_factory=set)

    def know(self, people: Iterable[Person | None]) -> None:
        """People read along with something else (a join)."""
        self.people.update((p.id, p) for p in people if p is not None and p.id is not None)

    async def load(self, s: Any, reqs: Iterable[Request], people: Iterable[int] = ()) -> None:
        reqs = list(reqs)
        wanted = set(people)
        for r in reqs:
            wanted |= {i for i in (r.asked_by_id, r.assignee_id, r.answered_by_id) if i}
        wanted -= set(self.people)
        if wanted:
            found = await s.exec(select(Person).where(col(Person.id).in_(wanted)))
            self.people.update((p.id, p) for p in found.all())
        teams = {r.team_id for r in reqs if r.team_id is not None} - set(self.teams)
        if teams:
            found = await s.exec(select(Team).where(col(Team.id).in_(teams)))
            self.teams.update((t.id, t) for t in found.all())
            staffed = await s.exec(
                select(Membership.team_id)
                .join(Person, col(Person.id) == col(Membership.person_id))
                .where(col(Membership.team_id).in_(teams))
                .distinct()
            )
            self.staffed.update(staffed.all())


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
        self.on_posted = on_posted

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
            try:
                await self.sync()
            except Exception:
                log.exception("Slack card sync failed; retrying")
            self.wake.clear()
            if stop.is_set():
                return
            if self.dirty or self.touched:
                continue
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def sync(self) -> None:
        async with self._lock:
            names = Names()
            cards, posts = await self._waiting()
            if cards:
                await self._post_cards(cards, names)
                _, posts = await self._waiting()  # a new card's thread takes its requests now
            await self._post_requests(posts, names)
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

    # ----------------------------------------------------------------------- posting

    async def _waiting(self) -> tuple[list[int], list[int]]:
        """The cases still without a card and the requests still without a post (or whose claim
        expired), in one query."""
        cards = select(literal("card"), col(Case.id)).where(
            Case.platform == "slack", col(Case.channel).is_not(None), _unclaimed(Case.message)
        )
        posts = (
            select(literal("post"), col(Request.id))
            .join(Case, col(Case.id) == col(Request.case_id))
            .where(
                Case.platform == "slack",
                col(Case.thread).is_not(None),
                col(Case.thread).not_like(f"{PENDING}%"),
                _unclaimed(Request.thread),
            )
        )
        async with self.app.db.reader() as s:
            rows = (await execute(s, union_all(cards, posts))).all()
        return (
            sorted(row_id for kind, row_id in rows if kind == "card"),
            sorted(row_id for kind, row_id in rows if kind == "post"),
        )

    async def _post_cards(self, waiting: list[int], names: Names) -> None:
        for case_id in waiting:
            assert case_id is not None
            if not await self._claim(Case, case_id, Case.message):
                continue
            try:
                await self._post_card(case_id, names)
            except Exception:
                log.exception("posting the card of case %s failed; will retry", case_id)
                await self._unclaim(Case, case_id, Case.message)

    async def _claim(self, table: Any, row_id: int, column: Any) -> bool:
        async with self.app.db.session() as s:
            return await _claim(s, table, row_id, column)

    async def _unclaim(self, table: Any, row_id: int, column: Any) -> None:
        async with self.app.db.session() as s:
            await s.exec(
                update(table)
                .where(col(table.id) == row_id, col(column).startswith(PENDING))
                .values({column.key: None})
            )

    async def _post_card(self, case_id: int, names: Names) -> None:
        card, case = await self.card(case_id, names)
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

    async def _post_requests(self, rows: list[int], names: Names) -> None:
        for req_id in rows:
            log.debug("posting request %s in its case thread", req_id)
            try:
                await self._post_request(req_id, names)
            except Exception:
                log.exception("posting request %s in its case thread failed; will retry", req_id)

    async def _post_request(self, req_id: int, names: Names) -> None:
        """Claim the request and read it with its case, asker and assignee in one transaction,
        then post it (a failed post gives the claim back)."""
        rules, now = await self.app.rules(), await self.app.clock.now()
        async with self.app.db.session() as s:
            if not await _claim(s, Request, req_id, Request.thread):
                return
            found = (await s.exec(_request_to_post(), params={"id": req_id})).first()
            assert found is not None
            req, case, *people = found
            assert case.channel and case.thread
            names.know(people)
            await names.load(s, [req])  # whoever else it names, and its team
        try:
            await self._post_line(req_id, case, _line(req, names, rules, now))
        except Exception:
            await self._unclaim(Request, req_id, Request.thread)
            raise

    async def _post_line(self, req_id: int, case: Case, line: rs.RequestLine) -> None:
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
        async with self.app.db.session() as s:
            await s.exec(
                update(Request)
                .where(col(Request.id) == req_id)
                .values(platform="slack", channel=case.channel, thread=ts)
            )
        self._seen[(case.channel, ts)] = _digest(blocks)

    # ----------------------------------------------------------------------- updating

    async def refresh(
        self, case_id: int, names: Names | None = None, posts: set[int] | None = None
    ) -> None:
        """Update the card of a case in place, and the posts of its requests `posts` (all of
        them when None), where they changed."""
        case, card, lines = await self._read(case_id, names or Names(), posts=posts, in_place=True)
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
        case, card, _ = await self._read(case_id, names or Names())
        assert card is not None
        return card, case

    async def _read(
        self,
        case_id: int,
        names: Names,
        *,
        posts: Collection[int] | None = (),
        in_place: bool = False,
    ) -> tuple[Case, rs.CaseCard | None, list[tuple[Request, rs.RequestLine]]]:
        """A case's card, and the lines of its requests `posts` (every one when None) posted in
        Slack, in one query and one for the people; `in_place`: no card if the case has none in
        Slack yet.

        Only the requests that the card shows and the posts asked for are read, so a case that
        gathered hundreds of requests costs what a small one does.
        """
        rules, now = await self.app.rules(), await self.app.clock.now()
        async with self.app.db.reader() as s:
            wanted = _card_requests(posts)
            rows = (
                await s.exec(_case_with_requests(posts is None), params={"case": case_id, **wanted})
            ).all()
            if not rows:
                raise LookupError(f"no case {case_id}")
            case, total, open_total = rows[0][0], rows[0][2], rows[0][3]
            if in_place and not _on_slack(case):
                return case, None, []
            reqs = [r for _, r, _, _ in rows if r is not None]
            shown = on_card(reqs)
            chosen = [r for r in reqs if posts is None or r.id in posts]
            posted = [r for r in chosen if r.channel and _posted(r.thread)]
            await names.load(s, [*shown, *posted], people=[case.owner_id])
        owner = names.people.get(case.owner_id)
        assert owner is not None
        tz = calendar_of(owner, rules.calendar).tz
        lines: dict[int | None, rs.RequestLine] = {}
        for r in [*shown, *posted]:
            if r.id not in lines:
                lines[r.id] = _line(r, names, rules, now)
        shown_open = sum(1 for r in shown if r.status in OPEN_STATES)
        return (
            case,
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
                requests=[lines[r.id] for r in shown],
                more=total - len(shown),
                more_open=open_total - shown_open,
            ),
            [(r, lines[r.id]) for r in posted],
        )


def _card_requests(posts: Collection[int] | None) -> dict[str, Any]:
    return {"posts": sorted(posts or ())}


@cache
def _case_with_requests(every: bool) -> Any:
    """A case, its requests (every one, or those a card shows and the posts asked for: the open
    ones due soonest and the latest closed, `CARD_REQUESTS` of each), and its request counts."""
    here = col(Request.case_id) == bindparam("case")
    is_open = col(Request.status).in_(OPEN_STATES)
    total = select(func.count()).where(here).scalar_subquery()
    open_total = select(func.count()).where(here, is_open).scalar_subquery()
    joined = col(Request.case_id) == col(Case.id)
    if not every:
        soonest = (
            select(col(Request.id))
            .where(here, is_open)
            .order_by(col(Request.deadline), col(Request.id))
            .limit(CARD_REQUESTS)
        )
        latest = (
            select(col(Request.id))
            .where(here, ~is_open)
            .order_by(col(Request.id).desc())
            .limit(CARD_REQUESTS)
        )
        chosen = union(
            core_select(soonest.subquery()),
            core_select(latest.subquery()),
            select(col(Request.id)).where(col(Request.id).in_(bindparam("posts", expanding=True))),
        )
        joined = and_(joined, col(Request.id).in_(chosen))
    return (
        select(Case, Request, total, open_total)
        .outerjoin(Request, joined)
        .where(col(Case.id) == bindparam("case"))
        .order_by(col(Request.id))
    )


def _line(r: Request, names: Names, rules: Rules, now: datetime) -> rs.RequestLine:
    """One request as the card and its post show it (its people and team loaded in `names`)."""
    assignee = names.people.get(r.assignee_id) if r.assignee_id else None
    team = names.teams.get(r.team_id) if r.team_id else None
    asker = names.people.get(r.asked_by_id)
    answered = names.people.get(r.answered_by_id) if r.answered_by_id else None
    if assignee is not None:
        target: Any = mention(assignee)
    elif team is not None:
        target = f"the {team.name} team"
        if team.id not in names.staffed:
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


def _on_slack(case: Case) -> bool:
    """Whether the case has a posted card to keep in step."""
    return case.platform == "slack" and bool(case.channel) and _posted(case.message)


def _late(deadline: datetime, now: datetime) -> bool:
    return deadline < now


def _posted(ts: str | None) -> bool:
    return bool(ts) and not str(ts).startswith(PENDING)


CARD_REQUESTS = 20


def on_card(reqs: list[Request]) -> list[Request]:
    """The requests a card lists: the open ones (those due soonest, should there be more than
    fit), then the latest closed ones, up to `CARD_REQUESTS` in all (Slack takes 50 blocks a
    message), in the order they were asked."""
    if len(reqs) <= CARD_REQUESTS:
        return reqs
    waiting = sorted((r for r in reqs if r.status in OPEN_STATES), key=lambda r: (r.deadline, r.id))
    keep = {id(r) for r in waiting[:CARD_REQUESTS]}
    for r in reversed(reqs):
        if len(keep) >= CARD_REQUESTS:
            break
        keep.add(id(r))
    return [r for r in reqs if id(r) in keep]


def _digest(blocks: list[Any]) -> str:
    return hashlib.sha256(json.dumps(blocks, sort_keys=True).encode()).hexdigest()
