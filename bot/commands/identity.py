"""Who is behind a command: the person an origin names, admitted as `bot.access` decides."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import access
from bot.commands import grammar as c
from bot.commands.origin import Origin
from bot.directory import ensure_platform_person, person_by_handle
from bot.errors import NotAllowed, Refusal
from bot.messages import sentence
from storage.states import Platform
from storage.tables import Person

log = logging.getLogger(__name__)


async def identify(s: AsyncSession, origin: Origin) -> Person:
    """The person behind a command. On a platform, someone not yet known becomes a person only
    if they are in the org file or a full member of the organisation's workspace or tenant;
    anyone else is refused with help and how to be added, and no row is written for them."""
    if origin.platform == Platform.CONSOLE:
        person = await person_by_handle(s, origin.user)
        if person is None:
            raise Refusal(sentence("cmd_unknown_console_user", handle=origin.user))
        return person
    access.admit(origin)
    found = await ensure_platform_person(
        s,
        platform=origin.platform,
        uid=origin.user,
        name=origin.name,
        email=origin.email,
        tz=origin.tz,
        member=access.full_member(origin),
    )
    if found is None:
        log.info(
            "refused %s user %s: not a person of the organisation", origin.platform, origin.user
        )
        raise NotAllowed(sentence("access_not_a_person"), c.usage(None))
    return found
