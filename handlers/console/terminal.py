"""The local console: the same `/case …` commands as in Slack, for anyone, on any machine.

`/as dana` changes who you are; `/clock +3h` or `/clock tomorrow 09:00` moves the simulated clock
and shows the nudges and escalations that fall due. Messages meant for other people are printed
addressed to them. Lines come from a terminal or from a piped script.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TextIO

from sqlmodel import col, select

from bot.clock import SimClock
from bot.commands import service as dispatch
from bot.deadlines import DeadlineError, parse_deadline
from bot.messages import Message, sentence
from bot.notices import when_for
from bot.policy import parse_duration
from bot.runtime.app import Ownit
from bot.runtime.outbox import Notice
from handlers.console.render import render
from storage.states import Platform
from storage.tables import Person


def console_help() -> str:
    """The console's own commands, besides every `/case` command."""
    return sentence("console_help")


class ConsoleChannel:
    """Reaches everyone: prints the message addressed to them."""

    name: str = Platform.CONSOLE

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out

    def reaches(self, person: Person) -> bool:
        return True

    async def send(self, person: Person, msg: Message, row: Notice) -> None:
        self.out(_addressed(person.handle, render(msg)))


def _addressed(handle: str, text: str, private: bool = False) -> str:
    head = sentence(
        "console_to", handle=handle, only_you=sentence("console_only_you") if private else ""
    )
    return head + text.replace("\n", "\n   ")


class Console:
    def __init__(self, app: Ownit, *, actor: str, out: Callable[[str], None] = print) -> None:
        self.app = app
        self.actor = actor
        self.out = out
        self.turn = 0

    async def line(self, text: str) -> bool:
        """Handle one input line; False when the user asked to quit."""
        text = text.strip()
        if not text or text.startswith("#"):
            if text.startswith("#"):
                self.out(text)
            return True
        word, _, rest = text.partition(" ")
        word = word.lower()
        if word in ("/quit", "/exit", "quit", "exit"):
            return False
        if word == "/as":
            await self._as(rest.strip())
        elif word == "/who":
            await self._who()
        elif word == "/clock":
            await self._clock(rest.strip())
        elif word in ("/help", "help") and not rest:
            self.out(console_help())
            self.out(dispatch.c.usage())
        else:
            self.turn += 1
            reply = await dispatch.handle(
                self.app, text, dispatch.Origin(Platform.CONSOLE, self.actor), key=None
            )
            for msg in reply.messages:
                self.out(_addressed(self.actor, render(msg), private=msg.private or not reply.ok))
        await self.app.settle()
        return True

    async def _as(self, handle: str) -> None:
        handle = handle.lstrip("@").lower()
        async with self.app.db.reader() as s:
            person = (await s.exec(select(Person).where(Person.handle == handle))).first()
        if person is None:
            self.out(sentence("console_unknown_person", handle=handle))
            return
        self.actor = person.handle
        self.out(sentence("console_now_acting", handle=person.handle, name=person.name))

    async def _who(self) -> None:
        async with self.app.db.reader() as s:
            people = (await s.exec(select(Person).order_by(col(Person.handle)))).all()
        listed = ", ".join(f"@{p.handle} ({p.name})" for p in people)
        self.out(sentence("console_people", people=listed))

    async def _clock(self, arg: str) -> None:
        clock = self.app.clock
        if arg:
            if not isinstance(clock, SimClock):
                self.out(sentence("console_real_clock"))
                return
            try:
                if arg.startswith("+"):
                    await clock.advance(parse_duration(arg[1:]))
                else:
                    now = await clock.now()
                    await clock.set(parse_deadline(arg, now=now, calendar=self.app.calendar))
            except (ValueError, DeadlineError) as exc:
                self.out(sentence("console_clock_refused", error=str(exc)))
                return
        self.out(sentence("console_clock", when=when_for(await clock.now(), self.app.calendar.tz)))

    async def run(self, stream: TextIO | None = None) -> None:
        stream = stream or sys.stdin
        interactive = stream.isatty()
        if interactive:
            self.out(sentence("console_welcome"))
        while True:
            if interactive:
                try:
                    text = await asyncio.to_thread(input, f"{self.actor}> ")
                except EOFError:
                    break
            else:
                raw = await asyncio.to_thread(stream.readline)
                if not raw:
                    break
                text = raw.rstrip("\n")
                if text.strip() and not text.lstrip().startswith("#"):
                    self.out(f"{self.actor}> {text}")
            if not await self.line(text):
                break
