"""The owner is told when someone else (a manager, an admin, whoever asked) acts on their case."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import people_cache
from bot.access.decide import Grant
from bot.access.needs import Need
from bot.directory import mention
from bot.notices import tell
from storage.tables import Person


async def tell_owner(
    *,
    session: AsyncSession,
    grant: Grant,
    need: Need,
    actor: Person,
    now: datetime,
    request_key: str | None = None,
) -> None:
    """Queue the notice `need.told` for the case's owner, unless they acted themselves;
    `request_key` names the request the command made or changed."""
    if need.told is None or grant.case is None:
        return
    case = grant.case  # the row the check read (and locked) in this session
    if case.owner_id == actor.id:
        return
    owner = await people_cache.by_id(session, case.owner_id)
    if owner is None:
        return
    send = partial(
        tell,
        session,
        owner,
        need.told,
        at=now,
        case=case,
        request=grant.request,
        by=mention(actor),
        customer=case.customer,
    )
    if request_key and grant.request is None:  # the request the command made (an ask)
        send(request_key=request_key)
    else:
        send()
