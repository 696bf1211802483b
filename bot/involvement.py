"""Who is involved in what: the questions a platform asks before it shows or routes something.

Which case a chat thread is the home of, which open requests wait on a person, whether a person
may see a case's details, and whose overview a change to a case touches. Each is one query (a
recursive one for the management chain), so a busy organisation costs what a small one does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, literal, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.states import OPEN_REQUEST_STATES, CaseStatus, Platform
from storage.tables import Case, Membership, Person, Request


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


async def involved(*, session: AsyncSession, person: Person, case: Case) -> bool:
    """The owner, their managers, admins, and whoever asked, was asked or answered on it (or
    is in the team asked, or manages whoever was asked)."""
    if person.id == case.owner_id or person.is_admin:
        return True
    reports = _reports_of(person.id)
    pid = person.id
    on_a_request = exists(
        select(col(Request.id)).where(
            Request.case_id == case.id,
            or_(
                col(Request.asked_by_id) == pid,
                col(Request.assignee_id) == pid,
                col(Request.answered_by_id) == pid,
                col(Request.team_id).in_(_teams_of(pid)),
                col(Request.assignee_id).in_(select(reports.c.id)),
            ),
        )
    )
    manages_owner = literal(case.owner_id).in_(select(reports.c.id))
    return bool((await session.exec(select(or_(on_a_request, manages_owner)))).one())


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
