"""Whose figures: a manager's people, a team, a person, and the requests and cases that count."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.sql import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.figures.query import among, execute, is_pg
from storage.tables import Case, Membership, Person, Request, Team


@dataclass(frozen=True)
class Scope:
    """A set of people, and the teams whose unclaimed requests count against them."""

    label: str
    people: tuple[int, ...]
    teams: tuple[int, ...] = ()
    target_on_time: float = 0.9
    target_first_response_minutes: int = 60
    pg: bool = False  # PostgreSQL: match ids with one array parameter instead of a long IN list


async def reports_of(session: AsyncSession, manager: Person) -> list[int]:
    """Everyone below `manager` in the management chain, level by level (cycles are cut)."""
    seen: set[int] = {manager.id} if manager.id is not None else set()
    found: list[int] = []
    frontier: list[int] = [manager.id] if manager.id is not None else []
    while frontier:
        rows = (
            await execute(
                session, select(col(Person.id)).where(col(Person.manager_id).in_(frontier))
            )
        ).all()
        frontier = [r[0] for r in rows if r[0] not in seen]
        seen.update(frontier)
        found.extend(frontier)
    return found


async def managed_teams(session: AsyncSession, manager: Person) -> list[Team]:
    rows = await execute(
        session, select(Team).where(col(Team.manager_id) == manager.id).order_by(col(Team.key))
    )
    return list(rows.scalars().all())


async def manager_scope(session: AsyncSession, manager: Person) -> Scope:
    """A manager's people: everyone reporting to them, and the members of the teams they run.

    The targets are the strictest of their teams' (the defaults when they run no team).
    """
    people = set(await reports_of(session, manager))
    teams = await managed_teams(session, manager)
    team_ids = [t.id for t in teams if t.id is not None]
    if team_ids:
        rows = await execute(
            session, select(col(Membership.person_id)).where(col(Membership.team_id).in_(team_ids))
        )
        people.update(r[0] for r in rows.all())
    people.discard(manager.id)  # type: ignore[arg-type]
    on_time = max(
        (t.target_on_time for t in teams), default=Team.model_fields["target_on_time"].default
    )
    first = min(
        (t.target_first_response_minutes for t in teams),
        default=Team.model_fields["target_first_response_minutes"].default,
    )
    return Scope(
        label=f"{manager.name}'s people",
        people=tuple(sorted(people)),
        teams=tuple(team_ids),
        target_on_time=on_time,
        target_first_response_minutes=first,
        pg=is_pg(session),
    )


async def team_scope(session: AsyncSession, team: Team) -> Scope:
    rows = await execute(
        session, select(col(Membership.person_id)).where(col(Membership.team_id) == team.id)
    )
    assert team.id is not None
    return Scope(
        label=f"@{team.key}",
        people=tuple(sorted(r[0] for r in rows.all())),
        teams=(team.id,),
        target_on_time=team.target_on_time,
        target_first_response_minutes=team.target_first_response_minutes,
        pg=is_pg(session),
    )


def person_scope(person: Person) -> Scope:
    assert person.id is not None
    return Scope(label=f"@{person.handle}", people=(person.id,))


def asked_of(scope: Scope) -> ColumnElement[bool]:
    """Requests that count against the scope: asked of its people, or unclaimed by its teams."""
    people = among(col(Request.assignee_id), scope.people, pg=scope.pg)
    if not scope.teams:
        return people
    return or_(
        people,
        and_(
            col(Request.assignee_id).is_(None),
            among(col(Request.team_id), scope.teams, pg=scope.pg),
        ),
    )


def answered_by(scope: Scope) -> ColumnElement[bool]:
    return among(col(Request.answered_by_id), scope.people, pg=scope.pg)


def owned_by(scope: Scope) -> ColumnElement[bool]:
    return among(col(Case.owner_id), scope.people, pg=scope.pg)
