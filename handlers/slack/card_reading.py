"""A case's card and its requests' posts as Slack shows them, read from the rows.

Only what a card shows is read (the open requests due soonest, the latest closed ones) and the
people and teams it names are read once per sync, in batches, so a case that gathered hundreds of
requests costs what a small one does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, func, union
from sqlalchemy import select as core_select
from sqlmodel import col, select

from bot import people_cache
from bot.assist import summaries
from bot.directory import Rules, calendar_of, mention
from bot.notices import when_for
from bot.runtime.app import Ownit
from handlers.slack import render as rs
from handlers.slack.wording import say
from storage.states import OPEN_REQUEST_STATES, Platform
from storage.tables import Case, Membership, Person, Request, Team


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

    def missing(
        self, reqs: Iterable[Request], people: Iterable[int] = ()
    ) -> tuple[set[int], set[int]]:
        """The people and teams of `reqs` (and `people`) not known yet."""
        reqs = list(reqs)
        wanted = set(people)
        for r in reqs:
            wanted |= {i for i in (r.asked_by_id, r.assignee_id, r.answered_by_id) if i}
        teams = {r.team_id for r in reqs if r.team_id is not None}
        return wanted - set(self.people), teams - set(self.teams)

    async def load(self, s: Any, reqs: Iterable[Request], people: Iterable[int] = ()) -> None:
        wanted, teams = self.missing(reqs, people)
        if wanted:  # kept in process, fresh through the wake-ups: no query once seen
            self.people.update(await people_cache.to_show(s, wanted))
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


class CardReader:
    """Reads cards and request lines for the mirror."""

    def __init__(self, app: Ownit) -> None:
        self.app = app

    async def card(self, case_id: int, names: Names | None = None) -> tuple[rs.CaseCard, Case]:
        case, card, _ = await self.read(case_id, names or Names())
        assert card is not None
        return card, case

    async def read(
        self,
        case_id: int,
        names: Names,
        *,
        posts: Collection[int] | None = (),
        in_place: bool = False,
        also: Collection[Request] = (),
    ) -> tuple[Case, rs.CaseCard | None, list[tuple[Request, rs.RequestLine]]]:
        """A case's card, and the lines of its requests `posts` (every one when None) posted in
        Slack, in one query (and one for the people not in `names`, those of `also` among them);
        `in_place`: no card if the case has none in Slack yet.

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
            case, total, open_total, summed_up = rows[0][0], rows[0][2], rows[0][3], rows[0][4]
            if in_place and not _on_slack(case):
                return case, None, []
            reqs = [r for _, r, *_ in rows if r is not None]
            shown = on_card(reqs)
            chosen = [r for r in reqs if posts is None or r.id in posts]
            posted = [r for r in chosen if r.channel and _posted(r.thread)]
            await names.load(s, [*shown, *posted, *also], people=[case.owner_id])
        owner = names.people.get(case.owner_id)
        assert owner is not None
        tz = calendar_of(owner, rules.calendar).tz
        lines: dict[int | None, rs.RequestLine] = {}
        for r in [*shown, *posted]:
            if r.id not in lines:
                lines[r.id] = request_line(r, names, rules, now)
        shown_open = sum(1 for r in shown if r.status in OPEN_REQUEST_STATES)
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
                summed_up=summed_up,
            ),
            [(r, lines[r.id]) for r in posted],
        )


def _card_requests(posts: Collection[int] | None) -> dict[str, Any]:
    return {"posts": sorted(posts or ())}


@cache
def _case_with_requests(every: bool) -> Any:
    """A case, its requests (every one, or those a card shows and the posts asked for: the open
    ones due soonest and the latest closed, `CARD_REQUESTS` of each), its request counts and its
    summary if current."""
    here = col(Request.case_id) == bindparam("case")
    is_open = col(Request.status).in_(OPEN_REQUEST_STATES)
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
        core_select(Case, Request, total, open_total, summaries.current_text())
        .outerjoin(Request, joined)
        .where(col(Case.id) == bindparam("case"))
        .order_by(col(Request.id))
    )


def request_line(r: Request, names: Names, rules: Rules, now: datetime) -> rs.RequestLine:
    """One request as the card and its post show it (its people and team loaded in `names`)."""
    assignee = names.people.get(r.assignee_id) if r.assignee_id else None
    team = names.teams.get(r.team_id) if r.team_id else None
    asker = names.people.get(r.asked_by_id)
    answered = names.people.get(r.answered_by_id) if r.answered_by_id else None
    if assignee is not None:
        target: Any = mention(assignee)
    elif team is not None:
        target = say("slack_card_the_team", team=team.name)
        if team.id not in names.staffed:
            target += say("slack_card_no_members")
    else:
        target = say("slack_request_someone")
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
    return case.platform == Platform.SLACK and bool(case.channel) and _posted(case.message)


def _late(deadline: datetime, now: datetime) -> bool:
    return deadline < now


def _posted(ts: str | None) -> bool:
    return bool(ts)


CARD_REQUESTS = 20


def on_card(reqs: list[Request]) -> list[Request]:
    """The requests a card lists: the open ones (those due soonest, should there be more than
    fit), then the latest closed ones, up to `CARD_REQUESTS` in all (Slack takes 50 blocks a
    message), in the order they were asked."""
    if len(reqs) <= CARD_REQUESTS:
        return reqs
    waiting = sorted(
        (r for r in reqs if r.status in OPEN_REQUEST_STATES), key=lambda r: (r.deadline, r.id)
    )
    keep = {id(r) for r in waiting[:CARD_REQUESTS]}
    for r in reversed(reqs):
        if len(keep) >= CARD_REQUESTS:
            break
        keep.add(id(r))
    return [r for r in reqs if id(r) in keep]
