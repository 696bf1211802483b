"""The one permission check: a person, a command's need, and the rows it names.

A case or request the person may not see is answered exactly like one that does not exist, so
keys cannot be probed; one they may see but not act on gets a specific refusal. Every denial is
logged, and raised before the command writes anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import people_cache
from bot.access.escalation import above_asked, escalated
from bot.access.needs import Capability, Need
from bot.cases import get_case
from bot.digests import may_see_team
from bot.directory import is_member, normalise_handle, team_by_key
from bot.errors import NotAllowed, NotFound, Refusal
from bot.involvement import NOTHING, Sight, sight
from bot.messages import sentence
from bot.requests import get_request
from bot.requests.lookup import asked_name
from storage.tables import Case, Person, Request, Team

log = logging.getLogger(__name__)

LOCKING = {Capability.RUN_CASE, Capability.ANSWER, Capability.REDIRECT, Capability.DECIDE}
"""Needs whose command changes the case or request: its row is locked as it is checked."""


@dataclass(frozen=True)
class Grant:
    """What the check found: the case and request the command is about, and what of it the
    person sees."""

    case: Case | None = None
    request: Request | None = None
    sight: Sight = NOTHING


def _deny(actor: Person, need: Need, exc: Refusal) -> Refusal:
    log.info("denied %s (%s) to @%s: %s", need.capability, need.verb, actor.handle, exc.message)
    return exc


async def authorize(*, session: AsyncSession, actor: Person, need: Need) -> Grant:
    """Allow `need` for `actor` or raise the refusal to show them; nothing is written."""
    lock = need.capability in LOCKING
    match need.capability:
        case Capability.ANYONE:
            return Grant()
        case Capability.ADMIN:
            if not actor.is_admin:
                raise _deny(actor, need, NotAllowed(sentence("cmd_admin_only_admins"), need.usage))
            return Grant()
        case Capability.TEAM_DIGEST | Capability.TEAM_TARGETS:
            await _team(session, actor, need)
            return Grant()
    if need.request is not None:
        return await _on_request(session, actor, need, lock=lock)
    assert need.case is not None
    case = await get_case(session, need.case, lock=lock)
    seen = await sight(session=session, person=actor, case=case)
    if not seen.any:
        raise _deny(actor, need, NotFound(sentence("cmd_no_case", key=need.case)))
    if need.capability == Capability.RUN_CASE and not seen.full:
        owner = await people_cache.by_id(session, case.owner_id)
        handle = owner.handle if owner else "?"
        refusal = sentence("cmd_only_case_manager", case_key=case.key, owner=handle, verb=need.verb)
        raise _deny(actor, need, NotAllowed(refusal))
    return Grant(case=case, sight=seen)


async def _on_request(session: AsyncSession, actor: Person, need: Need, *, lock: bool) -> Grant:
    assert need.request is not None
    req = await get_request(session, need.request, lock=lock)
    case = await session.get(Case, req.case_id)
    assert case is not None
    seen = await sight(session=session, person=actor, case=case)
    if not seen.shows(req):
        raise _deny(actor, need, NotFound(sentence("cmd_no_request", key=need.request)))
    if need.capability in (Capability.ANSWER, Capability.REDIRECT) and not (
        await _asked(session, actor, req)
        or (need.capability == Capability.REDIRECT and await _steers(session, actor, req, seen))
    ):
        who = await asked_name(session, req)
        refusal = sentence("cmd_asked_of_other", request_key=req.key, who=who, verb=need.verb)
        raise _deny(actor, need, NotAllowed(refusal))
    if need.capability == Capability.DECIDE and not (
        seen.full or req.asked_by_id == actor.id or await above_asked(session, actor, req)
    ):
        refusal = sentence("cmd_owner_side_only", case_key=case.key, request_key=req.key)
        raise _deny(actor, need, NotAllowed(refusal))
    return Grant(case=case, request=req, sight=seen)


async def _asked(session: AsyncSession, actor: Person, req: Request) -> bool:
    """The asked person, or a member of the asked team while nobody has claimed it."""
    if req.assignee_id == actor.id:
        return True
    if req.assignee_id is None and req.team_id is not None and actor.id is not None:
        return await is_member(session, req.team_id, actor.id)
    return False


async def _steers(session: AsyncSession, actor: Person, req: Request, seen: Sight) -> bool:
    """Once a request escalated, the managers it reached (above the asked, or the owner's side)
    may hand it on: before that, only the asked person redirects it."""
    return await escalated(session, req) and (seen.full or await above_asked(session, actor, req))


async def _team(session: AsyncSession, actor: Person, need: Need) -> Team:
    assert need.team is not None
    team = await team_by_key(session, need.team)
    if team is None:
        key = normalise_handle(need.team)
        missing = "digest_no_team" if need.capability == Capability.TEAM_DIGEST else None
        raise Refusal(
            sentence(missing, team=key) if missing else sentence("cmd_admin_no_team", key=key)
        )
    if not await may_see_team(session, actor, team):
        if need.capability == Capability.TEAM_DIGEST:
            raise _deny(actor, need, NotAllowed(sentence("digest_team_not_yours", team=team.key)))
        refusal = sentence("cmd_admin_target_not_allowed", team=team.key)
        raise _deny(actor, need, NotAllowed(refusal))
    return team
