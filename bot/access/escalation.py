"""Who an escalated request reached: the managers above whoever was asked.

An overdue request escalates to the asked person's manager (or the asked team's); from then on
that manager chain may steer it (redirect, set its deadline, take it), as the owner's side may.
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import people_cache
from bot.directory import manages
from storage.states import Step, TimerOutcome
from storage.tables import Person, Request, Team, Timer


async def escalated(session: AsyncSession, req: Request) -> bool:
    """Whether the request's overdue step has fired (for any of its deadlines)."""
    found = await session.exec(
        select(col(Timer.id)).where(
            Timer.request_id == req.id,
            Timer.step == Step.OVERDUE,
            Timer.outcome == TimerOutcome.FIRED,
        )
    )
    return found.first() is not None


async def above_asked(session: AsyncSession, actor: Person, req: Request) -> bool:
    """Whether `actor` is above the asked person (or manages the asked team, or is above its
    manager) in the management chain, and the request has escalated to them."""
    asked: Person | None = None
    if req.assignee_id is not None:
        asked = await people_cache.by_id(session, req.assignee_id)
    elif req.team_id is not None:
        team = await session.get(Team, req.team_id)
        if team is None or team.manager_id is None:
            return False
        if team.manager_id == actor.id:
            return await escalated(session, req)
        asked = await people_cache.by_id(session, team.manager_id)
    if asked is None or not await manages(session, actor, asked):
        return False
    return await escalated(session, req)
