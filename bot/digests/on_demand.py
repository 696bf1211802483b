"""`/case digest [team]`: a digest of the last seven days, asked for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import figures
from bot.assist import Model
from bot.assist.digest_words import worded
from bot.digests.compose import build
from bot.directory import Rules, manages, normalise_handle, team_by_key
from bot.errors import Refusal
from bot.messages import Message, sentence
from storage.tables import Person, Team


async def may_see_team(session: AsyncSession, actor: Person, team: Team) -> bool:
    """A team's manager, anyone above them, or an admin (asked by `bot.access`)."""
    if actor.is_admin or team.manager_id == actor.id:
        return True
    manager = await session.get(Person, team.manager_id) if team.manager_id else None
    return manager is not None and await manages(session, actor, manager)


async def on_demand(
    session: AsyncSession, *, rules: Rules, actor: Person, team: str | None, now: datetime
) -> Message:
    """`/case digest [team]`: the last seven days, for the actor's people or one of their teams."""
    if team:
        t = await team_by_key(session, team)
        if t is None:
            raise Refusal(sentence("digest_no_team", team=normalise_handle(team)))
        scope = await figures.team_scope(session, t)
    else:
        scope = await figures.manager_scope(session, actor)
        if not scope.people and not scope.teams:
            raise Refusal(sentence("digest_nobody_managed"))
    digest = await build(
        session,
        rules=rules,
        reader=actor,
        scope=scope,
        title=sentence("digest_title_on_demand"),
        start=now - timedelta(days=7),
        end=now + timedelta(seconds=1),
        now=now,
        weekly=False,
        compare=True,
    )
    msg = digest.message
    return Message(msg.kind, msg.segments, private=True, extra=msg.extra)


def words_later(digest: Message, *, now: datetime) -> Callable[[Model], Awaitable[list[Message]]]:
    """The step that gives an on-demand digest its three sentences once the command committed
    (the digest as it is when the model is off or not good enough)."""

    async def finish(model: Model) -> list[Message]:
        return [await worded(model, digest, now=now)]

    return finish
