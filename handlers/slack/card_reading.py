"""A case's card and its requests' posts as Slack shows them, read from the rows.

Only what a card shows is read (the open requests due soonest, the latest closed ones) and the
people and teams it names are read once per sync, in batches, so a case that gathered hundreds of
requests costs what a small one does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select

from bot import people_cache
from bot.directory import Rules, mention
from bot.notices import when_for
from bot.runtime.app import Ownit
from handlers.slack import render as rs
from handlers.slack.card_rows import (
    CARD_REQUESTS,
    CardCase,
    CardRequest,
    case_of,
    case_with_requests,
    request_of,
    request_with_case,
)
from handlers.slack.wording import say
from storage import driver
from storage.states import OPEN_REQUEST_STATES, Platform
from storage.tables import Membership, Person, Team, table_of

TIMES_KEPT = 4096  # deadlines and ETAs kept as their cards show them

_team = table_of(Team)
_membership = table_of(Membership)
_person = table_of(Person)


@dataclass
class Names:
    """The people and teams that one sync's cards and posts name, each read once, in batches.

    People come from the process's memory (`people_cache.to_show`), one shared copy each; teams
    are read as plain rows (their id, name and zone).
    """

    people: dict[int, Person] = field(default_factory=dict)
    teams: dict[int, Any] = field(default_factory=dict)
    staffed: set[int] = field(default_factory=set)

    def know(self, people: Iterable[Person | None]) -> None:
        """People read along with something else (a change's)."""
        self.people.update((p.id, p) for p in people if p is not None and p.id is not None)

    def missing(
        self, reqs: Iterable[CardRequest], people: Iterable[int] = ()
    ) -> tuple[set[int], set[int]]:
        """The people and teams of `reqs` (and `people`) not known yet."""
        reqs = list(reqs)
        wanted = set(people)
        for r in reqs:
            wanted |= {i for i in (r.asked_by_id, r.assignee_id, r.answered_by_id) if i}
        teams = {r.team_id for r in reqs if r.team_id is not None}
        return wanted - set(self.people), teams - set(self.teams)

    async def load(self, s: Any, reqs: Iterable[CardRequest], people: Iterable[int] = ()) -> None:
        wanted, teams = self.missing(reqs, people)
        if wanted:  # kept in process, fresh through the wake-ups: no query once seen
            self.people.update(await people_cache.to_show(s, wanted))
        if teams:
            conn = await s.connection()
            found = await conn.execute(
                select(_team.c.id, _team.c.name, _team.c.tz).where(_team.c.id.in_(teams))
            )
            self.teams.update((t.id, t) for t in found.all())
            staffed = await conn.execute(
                select(_membership.c.team_id)
                .join(_person, _person.c.id == _membership.c.person_id)
                .where(_membership.c.team_id.in_(teams))
                .distinct()
            )
            self.staffed.update(staffed.scalars().all())


class CardReader:
    """Reads cards and request lines for the mirror."""

    def __init__(self, app: Ownit) -> None:
        self.app = app

    async def card(self, case_id: int, names: Names | None = None) -> tuple[rs.CaseCard, CardCase]:
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
        also: Collection[CardRequest] = (),
    ) -> tuple[CardCase, rs.CaseCard | None, list[tuple[CardRequest, rs.RequestLine]]]:
        """A case's card, and the lines of its requests `posts` (every one when None) posted in
        Slack, in one statement (and one for the people not in `names`, those of `also` among
        them); `in_place`: no card if the case has none in Slack yet.

        Only the requests that the card shows and the posts asked for are read, so a case that
        gathered hundreds of requests costs what a small one does.
        """
        rules, now = await self.app.rules(), await self.app.clock.now()
        async with self.app.db.reader() as s:
            conn = await s.connection()
            asked = sorted(posts or ())
            rows = await driver.fetch(
                conn,
                case_with_requests(posts is None, bool(asked)),
                {"case": case_id, "posts": asked} if asked else {"case": case_id},
            )
            if not rows:
                raise LookupError(f"no case {case_id}")
            first = rows[0]
            case = case_of(first)
            if in_place and not _on_slack(case):
                return case, None, []
            total, open_total, summed_up = first[-3:]
            reqs = [r for row in rows if (r := request_of(row)) is not None]
            shown = on_card(reqs)
            chosen = [r for r in reqs if posts is None or r.id in posts]
            posted = [r for r in chosen if r.channel and _posted(r.thread)]
            await names.load(s, [*shown, *posted, *also], people=[case.owner_id])
        owner = names.people.get(case.owner_id)
        assert owner is not None
        lines: dict[int, rs.RequestLine] = {}
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
                promise_text=(
                    when_for(case.promise_at, _zone(owner, rules)) if case.promise_at else ""
                ),
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

    async def to_post(self, req_id: int, names: Names) -> tuple[CardRequest, CardCase] | None:
        """A request with its case (and its people and team in `names`), to post it."""
        async with self.app.db.reader() as s:
            conn = await s.connection()
            row = (await conn.execute(request_with_case(), {"id": req_id})).first()
            if row is None:
                return None
            req = request_of(row)
            assert req is not None
            await names.load(s, [req])
        return req, case_of(row)


def request_line(r: CardRequest, names: Names, rules: Rules, now: datetime) -> rs.RequestLine:
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
    tz = _zone(assignee or team, rules)
    return rs.RequestLine(
        key=r.key,
        target=target,
        asked_by=mention(asker) if asker else None,
        question=r.question,
        status=r.status,
        deadline=r.deadline,
        deadline_text=_when(r.deadline, tz),
        eta=r.eta,
        eta_text=_when(r.eta, tz) if r.eta else "",
        answer=r.answer,
        answered_by=mention(answered) if answered else None,
        late=_late(r.deadline, now),
        pending=r.pending_deadline is not None,
    )


@lru_cache(maxsize=TIMES_KEPT)
def _when(at: datetime, tz: str) -> str:
    """`when_for` once per time and zone: a card shows the same deadlines redraw after redraw."""
    return when_for(at, tz)


def _zone(who: Any, rules: Rules) -> str:
    """The zone a person's or team's times are shown in: their own, else the organisation's."""
    return (who.tz if who is not None else None) or rules.calendar.tz


def _on_slack(case: CardCase) -> bool:
    """Whether the case has a posted card to keep in step."""
    return case.platform == Platform.SLACK and bool(case.channel) and _posted(case.message)


def _late(deadline: datetime, now: datetime) -> bool:
    return deadline < now


def _posted(ts: str | None) -> bool:
    return bool(ts)


def on_card(reqs: list[CardRequest]) -> list[CardRequest]:
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
