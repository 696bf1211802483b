"""How an admin command answers, and how it names people: its private reply and its refusals."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.directory import Ref, resolve
from bot.errors import Refusal
from bot.messages import Message, compose, sentence
from storage.tables import Person


def usage() -> str:
    """Every form of `/case admin …`: quoted when one is refused."""
    return sentence("cmd_admin_usage")


def say(key: str, /, **fields: str | int | float | None) -> Message:
    """The admin's private answer, worded by the template `key`."""
    return Message("admin", compose(key, **fields), private=True)


async def person(s: AsyncSession, ref: Ref, platform: str | None) -> Person:
    """The person `ref` names; a team there is refused."""
    found = await resolve(s, ref, platform=platform)
    if not isinstance(found, Person):
        raise Refusal(sentence("cmd_admin_is_a_team", key=found.key), usage())
    return found
