"""Handling what the inbox kept from Teams, once, after Teams got its acknowledgement.

A message is typed text (a command, or `case open` alone for the form) or an older card's
`Action.Submit`; an invoke is an `Action.Execute` press; an install is the app added to or removed
from a personal chat. Each runs its command through `bot.commands.service` with the activity's
delivery key, so a Bot Framework retry, or a row handled again after its replica died, changes
nothing. `again` (taken over from a replica that died) means the person may not have been told:
the reply is given, even if the command turns out to be a duplicate. Teams announces one install
twice (a `conversationUpdate` adding the bot and an `installationUpdate`), perhaps to two workers
at once: the person is greeted once.
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.schema import Activity

from bot.commands import grammar as c
from bot.commands import plain_words
from bot.commands import service as dispatch
from bot.directory import person_by_platform
from bot.runtime.app import Ownit
from handlers.teams import activities as a
from handlers.teams import buttons, references
from handlers.teams.answers import Answers
from handlers.teams.cards import CaseCards
from handlers.teams.connector import Connector
from handlers.teams.people import People
from handlers.teams.replies import Replies
from handlers.teams.wording import wording

log = logging.getLogger(__name__)

GREETED_FOR = 24 * 3600.0  # seconds an install's greeting is remembered (forgotten on removal)


class TeamsBot:
    """Turns kept Teams activities into ownit commands, and ownit replies into cards."""

    def __init__(self, app: Ownit, connector: Connector, cards: CaseCards) -> None:
        self.app = app
        self.people = People(app, connector)
        self.replies = Replies(app, connector, cards)
        self.answers = Answers()

    async def handle(self, kind: str, payload: dict[str, Any], again: bool = False) -> None:
        """The inbox's handler for Teams (`Inbox.on`)."""
        act = Activity().deserialize(payload)
        if kind == a.Kind.MESSAGE:
            await self.on_message(act, again)
        elif kind == a.Kind.INVOKE:
            await self.on_invoke(act, again)
        elif kind == a.Kind.INSTALL:
            await self.on_install(act)
        else:
            log.error("unknown Teams delivery kind %r", kind)

    async def lost(self, kind: str, payload: dict[str, Any], exc: Exception) -> None:
        """Acknowledged, then the inbox could not keep it: say so, where it was typed."""
        self.app.metrics.database_unavailable.inc()
        if kind in (a.Kind.MESSAGE, a.Kind.INVOKE):
            act = Activity().deserialize(payload)
            await self.replies.send(act, dispatch.refusal(dispatch.DATABASE_DOWN))

    # ------------------------------------------------------------------ messages

    async def on_message(self, act: Activity, again: bool = False) -> None:
        data = a.submitted(act)
        if data is not None:
            await self.on_submit(act, data, again)
            return
        origin, text = await self.people.origin(act)
        try:
            command = dispatch.parse(text)
        except c.UsageError as exc:
            self.app.metrics.commands.labels("unparsed", "usage").inc()
            if plain_words.is_plain(text):  # a proposed command (AI on), or the usage as ever
                proposed = await plain_words.propose(
                    self.app,
                    text,
                    origin,
                    key=a.delivery_key(act),
                    parse=dispatch.parse,
                    refused=exc,
                )
                if not proposed.duplicate or again:
                    await self.replies.send(act, proposed)
                return
            await self.replies.send(act, dispatch.refusal(exc.message, exc.usage))
            return
        if isinstance(command, c.OpenForm):
            await self.replies.form(act)
            return
        reply = await dispatch.run(self.app, command, origin, key=a.delivery_key(act))
        if reply.duplicate and not again:
            return
        await self.replies.send(act, reply)
        await self.replies.refresh(reply)

    async def on_submit(self, act: Activity, data: dict[str, Any], again: bool = False) -> None:
        """An `Action.Submit` (message back) from an older card: same command, card updated."""
        reply = await self.replies.for_the_card(act, await self.run_action(act, data))
        if reply.duplicate and not again:
            return
        await self.replies.refresh(reply)
        await self.replies.send(act, await self.replies.update_card(act, reply))

    # ------------------------------------------------------------------ buttons

    async def run_action(self, act: Activity, data: dict[str, Any]) -> dispatch.Reply:
        """The command a card button stands for, run as the person who pressed it."""
        command: c.Command | None
        opening = data.get("ownit") == "open"
        try:
            command = buttons.open_command(data) if opening else buttons.command_for(data)
        except c.UsageError as exc:
            await self.people.sender(act)  # they are seen (and reachable) all the same
            return dispatch.refusal(exc.message, exc.usage)
        if command is None and opening:
            return dispatch.refusal(wording("teams_open_needs"), c.usage("open"))
        if command is None:
            return dispatch.refusal(wording("teams_button_stale"))
        origin, _typed = await self.people.origin(act)
        return await dispatch.run(self.app, command, origin, key=a.delivery_key(act))

    async def on_invoke(self, act: Activity, again: bool = False) -> None:
        """Run the press; its reply goes on the HTTP response if the request still waits for it
        (`Answers`), else into the conversation (the request gave up, or died with its replica)."""
        reply = await self.replies.for_the_card(act, await self.run_action(act, a.card_action(act)))
        if again:
            reply.duplicate = False
        if self.answers.answer(a.delivery_key(act), reply):
            await self.replies.beside_the_card(act, reply)
        elif not reply.duplicate:
            await self.replies.send(act, reply)
        if not reply.duplicate:
            await self.replies.refresh(reply)

    # ------------------------------------------------------------------ installation

    async def on_install(self, act: Activity) -> None:
        added, removed = a.install_change(act)
        if removed:
            await self._forget(act)
            await self.app.shared.forget(_greeted(act))
            return
        first = added and await self._first_of_install(act)
        sender = await self.people.sender(act)
        if first and sender.person is not None:  # someone not of the org gets help on asking
            await self.replies.welcome(act, sender.person, sender.missed)
        self.app.poke()

    async def _first_of_install(self, act: Activity) -> bool:
        """Whether this activity is the first to announce the install: ownit could not reach the
        person in this chat yet, and no other activity of the install claimed the greeting."""
        uid = a.sender_uid(act)
        async with self.app.db.reader() as s:
            person = await person_by_platform(s, a.PLATFORM, uid) if uid else None
            ref = await references.reference_of(s, person.id) if person is not None else None
        if ref is not None and ref.conversation_id == act.conversation.id:
            return False
        return await self.app.shared.claim(_greeted(act), GREETED_FOR) is not False

    async def _forget(self, act: Activity) -> None:
        uid = a.sender_uid(act)
        async with self.app.db.session() as s:
            person = await person_by_platform(s, a.PLATFORM, uid) if uid else None
            if person is not None:
                await references.forget(s, person)


def _greeted(act: Activity) -> str:
    return f"teams:greeted:{act.conversation.id}"
