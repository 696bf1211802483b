"""Running one command for a Slack user: people linked first (those who count as people), what
Slack says of the author handed to the domain, the command run in one transaction, a new case
placed in Slack. Who may see or do what is the domain's to decide (`bot.access`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot import cases
from bot.commands import grammar as c
from bot.commands import plain_words
from bot.commands import service as dispatch
from bot.commands.origin import Origin
from bot.commands.service import Reply
from bot.runtime.app import Ownit
from handlers.slack.payloads import Where, parse, user_refs
from handlers.slack.profiles import Profiles, facts
from handlers.slack.wording import say
from storage.states import Platform

log = logging.getLogger(__name__)


def went_wrong() -> Reply:
    return dispatch.refusal(say("slack_went_wrong"))


class Runner:
    def __init__(
        self,
        app: Ownit,
        profiles: Profiles,
        *,
        dm: Callable[[str], Awaitable[str]],
        placed: Callable[[], None],
    ) -> None:
        self.app = app
        self.profiles = profiles
        self.dm = dm
        self.placed = placed

    async def execute(
        self,
        command: c.Command,
        where: Where,
        key: str | None,
        *,
        case: str | None = None,
        again: bool = False,
    ) -> Reply:
        """Link the people involved, run the command in one transaction, place a new case.

        A failure becomes a short apology to the person rather than silence. With `again`, a
        duplicate's reply (the first one's) is given as new, to be shown to the person.
        """
        try:
            origin = await self._origin(where, case, user_refs(command))
            reply = await dispatch.run(self.app, command, origin, key=key)
            if again:
                reply.duplicate = False
            if reply.ok and isinstance(command, c.Open) and reply.case:
                await self._place(reply.case, where)
            return reply
        except Exception:
            log.exception("Slack command %s failed", type(command).__name__)
            return went_wrong()

    async def _origin(self, where: Where, case: str | None, named: set[str]) -> Origin:
        """The author as Slack describes them (linked first, with the people they name)."""
        said = await self.profiles.link(self.app.db, {where.user} | named)
        author = said.get(where.user) or facts(where.user, None, self.profiles.org_home())
        return replace(
            author,
            known=author.known or where.user not in said,  # not looked up: linked already
            home=author.home or where.team or None,
            channel=where.channel,
            thread=where.thread,
            case=case,
        )

    async def propose(
        self,
        text: str,
        where: Where,
        key: str | None,
        *,
        refused: c.UsageError,
        case: str | None = None,
    ) -> Reply:
        """Plain words (no command): a proposed command for the author, or why none."""
        try:
            origin = await self._origin(where, case, set())
            return await plain_words.propose(
                self.app, text, origin, key=key, parse=parse, refused=refused
            )
        except Exception:
            log.exception("Slack plain words failed")
            return went_wrong()

    async def _place(self, case_key: str, where: Where) -> None:
        """A case opened in Slack lives where it was opened (or in its owner's DM)."""
        channel = where.channel
        if channel is None:
            channel = await self.dm(where.user)
        async with self.app.db.session() as s:
            case = await cases.get_case(s, case_key)
            if case.platform is None:
                await cases.attach_thread(
                    session=s,
                    case=case,
                    platform=Platform.SLACK,
                    channel=channel,
                    thread=None,
                    message_id=None,
                )
        self.placed()

    async def within(self, job: asyncio.Task[Reply], budget: float) -> Reply | None:
        """The reply of a command started as `job` if it comes within `budget` seconds."""
        done, _ = await asyncio.wait({job}, timeout=budget)
        if job not in done:
            return None
        try:
            return job.result()
        except Exception:
            log.exception("Slack command failed")
            return went_wrong()

    @staticmethod
    async def later(job: asyncio.Task[Reply]) -> Reply:
        try:
            return await job
        except Exception:
            log.exception("Slack command failed")
            return went_wrong()
