"""Who is involved in what: the questions a platform asks before it shows or routes something.

Which case a chat thread is the home of, which open requests wait on a person, what of a case a
person may see (`sight`: the visibility rule of docs/SECURITY.md), and whose overview a change to
a case touches. Each is one query (a recursive one for the management chain), so a busy
organisation costs what a small one does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, literal, or_, union
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.states import OPEN_REQUEST_STATES, CaseStatus, Platform, Step, TimerOutcome
from storage.tables import Case, Event, Membership, Person, Request, Team, Timer

OWNER_SIDE = -1
"""The row `sight`'s query yields when the person is above the owner in the management chain."""


def _teams_of(person_id: int | None) -> Any:
    return select(Membership.team_id).where(Membership.person_id == person_id)


def _reports_of(person_id: int | None) -> Any:
    """Everyone below a person in the management chain (UNION ends a chain that loops)."""
    below = select(col(Person.id)).where(Person.manager_id == person_id).cte(recursive=True)
    return below.union(select(col(Person.id)).join(below, col(Person.manager_id) == below.c.id))


async def case_for_thread(
    *, session: AsyncSession, platform: Platform, channel: str | None, thread: str | None
) -> Case | None:
    """The case whose home is this thread, if any."""
    if not channel or not thread:
        return None
    found = await session.exec(
        select(Case).where(
            Case.platform == platform, Case.channel == channel, Case.thread == thread
        )
    )
    return found.first()


async def request_for_dm(*, session: AsyncSession, channel: str, message: str) -> Request | None:
    """The request whose first DM is this message."""
    found = await session.exec(
        select(Request).where(Request.dm_channel == channel, Request.dm_message == message)
    )
    return found.first()


async def open_requests_of(
    *, session: AsyncSession, person: Person, case_id: int | None = None
) -> list[Request]:
    """Open requests waiting on this person (asked directly, or unclaimed for one of their
    teams), newest first; only those of `case_id` when given."""
    query = select(Request).where(
        col(Request.status).in_(OPEN_REQUEST_STATES),
        or_(
            col(Request.assignee_id) == person.id,
            col(Request.assignee_id).is_(None) & col(Request.team_id).in_(_teams_of(person.id)),
        ),
    )
    if case_id is not None:
        query = query.where(Request.case_id == case_id)
    return list((await session.exec(query.order_by(col(Request.id).desc()))).all())


@dataclass(frozen=True)
class Sight:
    """What of a case a person may see: all of it (the owner's side), or the case header and
    these requests (asked on them, or managing whoever was asked once a request escalated)."""

    full: bool
    requests: frozenset[int] = frozenset()

    @property
    def any(self) -> bool:
        return self.full or bool(self.requests)

    def shows(self, request: Request) -> bool:
        return self.full or request.id in self.requests


NOTHING = Sight(False)


def _asked_on(pid: int | None, case_id: int | None) -> Any:
    """The case's requests this person was asked, asked, answered or handled (a redirect, an
    acknowledgement), or that escalated to them as manager of whoever was asked."""
    reports = _reports_of(pid)
    managed_teams = select(col(Team.id)).where(
        or_(col(Team.manager_id) == pid, col(Team.manager_id).in_(select(reports.c.id)))
    )
    handled = exists(
        select(col(Event.id)).where(Event.request_id == Request.id, Event.actor_id == pid)
    )
    escalated = exists(
        select(col(Timer.id)).where(
            Timer.request_id == Request.id,
            Timer.step == Step.OVERDUE,
            Timer.outcome == TimerOutcome.FIRED,
        )
    )
    above_asked = or_(
        col(Request.assignee_id).in_(select(reports.c.id)),
        col(Request.team_id).in_(managed_teams),
    )
    return select(col(Request.id)).where(
        Request.case_id == case_id,
        or_(
            col(Request.assignee_id) == pid,
            col(Request.asked_by_id) == pid,
            col(Request.answered_by_id) == pid,
            col(Request.team_id).in_(_teams_of(pid)),
            handled,
            and_(escalated, above_asked),
        ),
    )


async def sight(*, session: AsyncSession, person: Person, case: Case) -> Sight:
    """The visibility rule, in one query: the owner, their managers and admins see the whole
    case; the people asked on it see the header and their own requests; nobody else anything."""
    if person.id == case.owner_id or person.is_admin:
        return Sight(True)
    reports = _reports_of(person.id)
    manages_owner = select(literal(OWNER_SIDE)).where(
        literal(case.owner_id).in_(select(reports.c.id))
    )
    either: Any = union(manages_owner, _asked_on(person.id, case.id))
    ids = {int(row[0]) for row in (await session.exec(either)).all()}
    if OWNER_SIDE in ids:
        return Sight(True)
    return Sight(False, frozenset(ids))


async def involved(*, session: AsyncSession, person: Person, case: Case) -> bool:
    """Whether the person may see anything of the case (see `sight`)."""
    return (await sight(session=session, person=person, case=case)).any


async def open_cases_owned(*, session: AsyncSession, person: Person) -> list[Case]:
    """The open cases this person owns."""
    found = await session.exec(
        select(Case).where(Case.owner_id == person.id, Case.status == CaseStatus.OPEN)
    )
    return list(found.all())


async def people_around(*, session: AsyncSession, case_id: int) -> list[Person]:
    """Whose overview of their work a change to the case touches: its owner, whoever asked or
    was asked on it, and their direct managers."""
    case = await session.get(Case, case_id)
    if case is None:
        return []
    asked = select(col(Request.asked_by_id)).where(Request.case_id == case_id)
    assignees = select(col(Request.assignee_id)).where(Request.case_id == case_id)
    near = or_(
        col(Person.id) == case.owner_id,
        col(Person.id).in_(asked),
        col(Person.id).in_(assignees),
    )
    people = list((await session.exec(select(Person).where(near))).all())
    managers = {p.manager_id for p in people if p.manager_id}
    if managers:
        found = await session.exec(select(Person).where(col(Person.id).in_(managers)))
        people += list(found.all())
    return people
