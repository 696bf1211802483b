"""Finding a request by its key, whom it waits on, and whether it is still open. Who may act on
it (the asked side, or the asker and the owner's side) was decided before (`bot.access`)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import people_cache
from bot.cases import parse_key
from bot.cases.lookup import shown
from bot.directory import members
from bot.errors import NotFound, Refusal
from bot.messages import sentence
from storage.db import get_row
from storage.states import OPEN_REQUEST_STATES
from storage.tables import Case, Person, Request, Team


async def get_request(session: AsyncSession, key: str, *, lock: bool = False) -> Request:
    req = await get_row(session, Request, parse_key(key, "R"), lock=lock)
    if req is None:
        raise NotFound(sentence("cmd_no_request", key=shown(key)))
    return req


async def calendar_owner(session: AsyncSession, req: Request) -> Person | Team | None:
    """Whose calendar the request runs on: its assignee, or the team it waits on."""
    if req.assignee_id is not None:
        return await people_cache.by_id(session, req.assignee_id)
    return await session.get(Team, req.team_id) if req.team_id is not None else None


async def asked_people(session: AsyncSession, req: Request) -> list[Person]:
    if req.assignee_id is not None:
        p = await people_cache.by_id(session, req.assignee_id)
        return [p] if p else []
    if req.team_id is not None:
        team = await session.get(Team, req.team_id)
        return [m for m in await members(session, team)] if team else []
    return []


async def open_for(session: AsyncSession, req: Request, verb: str) -> Case:
    """The request's case, once the request is known to be still open for `verb`."""
    case = await session.get(Case, req.case_id)
    assert case is not None
    if req.status not in OPEN_REQUEST_STATES:
        raise Refusal(
            sentence("cmd_request_closed_for", request_key=req.key, status=req.status, verb=verb)
        )
    return case


async def asked_name(session: AsyncSession, req: Request) -> str:
    if req.assignee_id is not None:
        p = await people_cache.by_id(session, req.assignee_id)
        return f"@{p.handle}" if p else sentence("cmd_someone_else")
    team = await session.get(Team, req.team_id) if req.team_id else None
    return sentence("cmd_the_team", team=team.name) if team else sentence("cmd_someone_else")


def claim(req: Request, actor: Person) -> bool:
    """A team request belongs to its first responder."""
    if req.assignee_id is None:
        req.assignee_id = actor.id
        return True
    return False


async def still_open(session: AsyncSession, req: Request) -> Case:
    """The request's case, once the request is known to be still open."""
    case = await session.get(Case, req.case_id)
    assert case is not None
    if req.status not in OPEN_REQUEST_STATES:
        raise Refusal(sentence("cmd_request_closed", request_key=req.key, status=req.status))
    return case
