"""Promise simulation: what ownit does for the promises of an organisation, and what it costs.

An organisation of 40 people in 5 teams and 3 time zones (London, New York, Tokyo) works two
weeks around Easter 2027: Good Friday and Easter Monday are holidays in England's calendar, and
the EU clocks change on Sun 28 Mar (New York changed on 14 Mar, Tokyo does not). 200 cases,
each with one to three internal requests, a quarter of the answers late (bench/promise_world.py
draws them from the seed). The run drives ownit's real command service on SQLite with the
simulated clock, stepping the clock to each next event (a person acting, or a ladder step falling
due), so steps fire at their due time and every notice written is read and reacted to.

The model of people (`promise_world.Reactions`), seeded: a colleague nudged acknowledges now and
then, and one who would be late answers inside the deadline after all with some probability
(more often once reminded that it is at risk); told it is overdue, some answer within two
business hours. A manager escalated to redirects to the holder's backup, who answers within three
business hours, or moves the deadline with the button. An owner accepts most asks for more time;
warned that a promise is threatened, the owner moves it to the time the warning offers (the
honest new time, on its "Move the promise to …" button) and tells the customer, unless their own
reply is already under way in time; with `--guess`, to one business day later, as owners did
before ownit offered a time. Everyone acts in their own business hours. Once every request is
answered the owner replies within a quarter of an hour to an hour of business time and resolves.

What the model leaves out: people who ignore every notice, or answer faster than they would have
just because they were asked; chat outside ownit; colleagues who acknowledge and then forget;
customers who refuse a new time; team requests (every request names a person); owners who are
away, and ownit's absence routing. The baseline ("no bot") replays the same plan with nobody
reminded: each answer at its planned time, the owner's reply after the last one; it is computed
from the plan, not run through ownit.

Figures (printed, no asserts):
- at-risk warnings (to the owner) on cases that end well, i.e. would keep their promise with no
  bot (target ≤ 1 in 10);
- threatened promises (that break with no bot, and where the owner still had to act) flagged to
  their owner at least 2 business hours ahead, and the median lead (target ≥ 95 %);
- ladder steps: fired, fired twice, fired late, fired outside the holder's business hours;
- renegotiated promises kept (target ≥ 9 in 10); broken promises against no bot (target ≥ 5×).

    .venv/bin/python bench/promises.py --seed 1
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import col, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.promise_figures import WARNINGS, report
from bench.promise_world import (
    HOUR,
    START,
    Held,
    Member,
    PlannedCase,
    Reactions,
    business_share,
    organisation,
    plan,
)
from bot.clock import SimClock
from bot.commands import service as dispatch
from bot.messages import Message
from bot.runtime.app import Ownit
from bot.runtime.config import load_settings
from storage.states import Platform
from storage.tables import Case, Outbox, Person

MINUTE = timedelta(minutes=1)


class Quiet:
    """Reaches everyone and shows nothing: the simulation reads the outbox rows themselves."""

    name: str = Platform.CONSOLE

    def reaches(self, person: Person) -> bool:
        return True

    async def send(self, person: Person, msg: Message, row: Outbox) -> None:
        return None


@dataclass
class Run:
    """One simulation through ownit; its records are what the figures are made of."""

    app: Ownit
    cases: list[PlannedCase]
    people: dict[str, Member]
    rng: random.Random
    react: Reactions
    guess: bool
    agenda: list[tuple[datetime, int, Callable[[], Awaitable[None]]]] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=itertools.count)
    case_keys: dict[int, str] = field(default_factory=dict)
    case_index: dict[str, int] = field(default_factory=dict)
    requests: dict[str, Held] = field(default_factory=dict)
    resolving: dict[int, datetime] = field(default_factory=dict)
    told: dict[int, list[tuple[str, datetime]]] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    handles: dict[int, str] = field(default_factory=dict)
    seen: int = 0
    commands: int = 0

    # --- the loop --------------------------------------------------------------------------------

    def at(self, when: datetime, act: Callable[[], Awaitable[None]]) -> None:
        heapq.heappush(self.agenda, (when, next(self.seq), act))

    def later(self, who: str, now: datetime, lo: float, hi: float) -> datetime:
        """When `who` gets to it: `lo`..`hi` minutes of their business time from now."""
        cal = self.people[who].calendar
        return cal.add(now, timedelta(minutes=self.rng.uniform(lo, hi)))

    async def go(self) -> None:
        clock = self.app.clock
        assert isinstance(clock, SimClock)
        async with self.app.db.reader() as s:
            for p in (await s.exec(select(Person))).all():
                assert p.id is not None
                self.handles[p.id] = p.handle
        for i, case in enumerate(self.cases):
            self.at(case.opened_at, self._opener(i))
        while True:
            due = await self.app.scheduler.next_due()
            upcoming = [t for t in (due, self.agenda[0][0] if self.agenda else None) if t]
            if not upcoming:
                return
            when = min(upcoming)
            if when > await clock.now():
                await clock.set(when)
            if self.agenda and self.agenda[0][0] <= when:
                await heapq.heappop(self.agenda)[2]()
            await self.app.settle()
            await self._read_notices()

    async def say(self, actor: str, text: str) -> dispatch.Reply:
        self.commands += 1
        reply = await dispatch.handle(self.app, text, dispatch.Origin(Platform.CONSOLE, actor))
        if not reply.ok:
            self.refused[f"{text.split()[1]}: {reply.plain()[:70]}"] += 1
        return reply

    async def now(self) -> datetime:
        return await self.app.clock.now()

    # --- what people do on their own ------------------------------------------------------------

    def _opener(self, i: int) -> Callable[[], Awaitable[None]]:
        async def act() -> None:
            case = self.cases[i]
            text = f"/case open {case.customer}: the refund promise {case.promise.isoformat()}"
            reply = await self.say(case.owner, text)
            assert reply.case, reply.plain()
            self.case_keys[i], self.case_index[reply.case] = reply.case, i
            for planned in case.requests:
                by = planned.deadline.isoformat()
                asked = await self.say(
                    case.owner, f"/case ask {reply.case} @{planned.to} {planned.question} by {by}"
                )
                assert asked.request, asked.plain()
                held = Held(i, planned, planned.to, planned.answer_at)
                held.holders.append((case.opened_at, planned.to))
                self.requests[asked.request] = held
                self._plan_answer(asked.request)
                if planned.ack_at is not None:
                    self.at(planned.ack_at, self._acknowledger(asked.request))

        return act

    def _acknowledger(self, key: str) -> Callable[[], Awaitable[None]]:
        async def act() -> None:
            held = self.requests[key]
            if held.answered or held.holder != held.plan.to:
                return
            eta = f" eta {held.plan.eta.isoformat()}" if held.plan.eta else ""
            await self.say(held.holder, f"/case ack {key}{eta}")
            if held.plan.more_time_to is not None:
                when = held.plan.more_time_to.isoformat()
                await self.say(held.holder, f"/case more-time {key} {when} waiting on records")

        return act

    def _plan_answer(self, key: str) -> None:
        held = self.requests[key]
        held.version += 1
        version = held.version

        async def act() -> None:
            if held.version != version or held.answered:
                return
            if (await self.say(held.holder, f"/case answer {key} it went out")).ok:
                held.answered, held.answered_at = True, await self.now()
                await self._maybe_resolve(held.case)

        self.at(held.answer_at, act)

    async def _maybe_resolve(self, i: int) -> None:
        mine = [h for h in self.requests.values() if h.case == i]
        if any(not h.answered for h in mine) or i in self.resolving:
            return
        case = self.cases[i]
        when = self.people[case.owner].calendar.add(await self.now(), case.reply)
        self.resolving[i] = when

        async def act() -> None:
            await self.say(case.owner, f"/case resolve {self.case_keys[i]}")

        self.at(when, act)

    def _sooner(self, key: str, when: datetime) -> None:
        """The holder will answer at `when` instead, if that is sooner."""
        held = self.requests[key]
        if not held.answered and when < held.answer_at:
            held.answer_at = when
            self._plan_answer(key)

    # --- reactions to notices --------------------------------------------------------------------

    async def _read_notices(self) -> None:
        async with self.app.db.reader() as s:
            rows = list((await s.exec(_outbox_after(self.seen))).all())
        for row in rows:
            assert row.id is not None
            self.seen = max(self.seen, row.id)
            await self._react(row, self.handles[row.person_id])

    async def _react(self, row: Outbox, who: str) -> None:
        now, r, rng = row.created_at, self.react, self.rng
        key = str(row.payload.get("request") or "")
        held = self.requests.get(key)
        case_index = self.case_index.get(row.payload["case"])
        if case_index is not None and who == self.cases[case_index].owner:
            self.told.setdefault(case_index, []).append((row.kind, now))
        if held is not None and who == held.holder and not held.answered:
            cal = self.people[who].calendar
            left = cal.between(now, held.plan.deadline)
            pull = {"nudge": r.nudged_pulls_in, "at_risk_colleague": r.at_risk_pulls_in}
            if row.kind in pull and left > 15 * MINUTE and rng.random() < pull[row.kind]:
                self._sooner(
                    key, business_share(cal, now, held.plan.deadline, rng.uniform(0.2, 0.8))
                )
            if row.kind == "nudge" and rng.random() < r.nudged_acknowledges:
                self.at(
                    self.later(who, now, 2, 30), self._say_if_held(key, who, f"/case ack {key}")
                )
            if row.kind == "overdue_colleague" and rng.random() < r.overdue_answers:
                self._sooner(key, self.later(who, now, 15, 120))
        elif held is not None and row.kind == "overdue_manager":
            await self._escalated(row, who, key, held)
        elif held is not None and row.kind == "more_time_owner":
            verb = "accept" if rng.random() < r.owner_accepts_more_time else "decline"
            self.at(self.later(who, now, 5, 30), self._say_as(who, f"/case {verb} {key}"))
        if row.kind in WARNINGS and case_index is not None:
            await self._warned(row, who, case_index)

    async def _escalated(self, row: Outbox, who: str, key: str, held: Held) -> None:
        draw, now = self.rng.random(), row.created_at
        backup = self.people[held.holder].backup
        when = self.later(who, now, 5, 45)
        if draw < self.react.manager_redirects and backup:

            async def act() -> None:
                if held.answered:
                    return
                reply = await self.say(who, f"/case redirect {key} @{backup} backup takes it")
                if reply.ok:
                    at = await self.now()
                    held.holder = backup
                    held.holders.append((at, backup))
                    held.answer_at = self.later(backup, at, 30, 180)
                    self._plan_answer(key)

            self.at(when, act)
        elif draw < self.react.manager_redirects + self.react.manager_moves_deadline:
            moves = [a for a in row.payload.get("actions", []) if a["name"] == "shorten"]
            if moves:
                self.at(
                    when, self._say_if_open(key, who, f"/case deadline {key} {moves[0]['value']}")
                )

    async def _warned(self, row: Outbox, who: str, i: int) -> None:
        case = self.cases[i]
        if who != case.owner:
            return
        now = row.created_at
        cal = self.people[who].calendar
        async with self.app.db.reader() as s:
            found = await s.get(Case, row.case_id)
            promise = found.promise_at if found else None
        if i in self.resolving and promise is not None and self.resolving[i] <= promise:
            return  # their own reply is under way in time
        if self.guess:
            target = cal.add(max(now, promise or now), 8 * HOUR)
        else:
            offers = [a for a in row.payload.get("actions", []) if a["name"] == "promise"]
            if not offers:
                return
            target = datetime.fromisoformat(offers[0]["value"])
        text = f"/case promise {self.case_keys[i]} {target.isoformat()} a new time"
        self.at(self.later(who, now, 1, 10), self._say_as(who, text))

    def _say_as(self, who: str, text: str) -> Callable[[], Awaitable[None]]:
        async def act() -> None:
            await self.say(who, text)

        return act

    def _say_if_held(self, key: str, who: str, text: str) -> Callable[[], Awaitable[None]]:
        async def act() -> None:
            held = self.requests[key]
            if held.holder == who and not held.answered:
                await self.say(who, text)

        return act

    def _say_if_open(self, key: str, who: str, text: str) -> Callable[[], Awaitable[None]]:
        async def act() -> None:
            if not self.requests[key].answered:
                await self.say(who, text)

        return act


def _outbox_after(last: int) -> Any:
    return select(Outbox).where(col(Outbox.id) > last).order_by(col(Outbox.id))


async def simulate(seed: int, cases: int, late: float, guess: bool) -> tuple[Run, float]:
    """One run through ownit on a fresh SQLite database; returns it and its seconds."""
    planned, people = plan(seed, cases, late)
    org, _ = organisation()
    with tempfile.TemporaryDirectory() as folder:
        org_file = Path(folder) / "ownit.yaml"
        org_file.write_text(yaml.safe_dump(org, sort_keys=False), "utf-8")
        settings = load_settings(
            DATABASE_URL=f"sqlite:///{Path(folder) / 'ownit.db'}",
            OWNIT_ORG_FILE=str(org_file),
            OWNIT_TIMEZONE="Europe/London",
        )
        app = await Ownit.start(settings, simulated=True, channels=[Quiet()])
        try:
            assert isinstance(app.clock, SimClock)
            app.clock.start = START
            await app.clock.now()
            run = Run(app, planned, people, random.Random(seed * 7919 + 1), Reactions(), guess)
            started = time.perf_counter()
            await run.go()
            elapsed = time.perf_counter() - started
            await report(
                app.db,
                planned=planned,
                people=people,
                told=run.told,
                requests=run.requests,
                case_keys=run.case_keys,
                refused=run.refused,
                commands=run.commands,
                heading=f"seed {seed}, {cases} cases, {late:.0%} of answers late"
                + (", owners guess a new time" if guess else "")
                + f": {elapsed:.0f} s",
            )
        finally:
            await app.close()
    return run, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--late", type=float, default=0.25, help="share of late answers")
    parser.add_argument(
        "--guess", action="store_true", help="owners move a threatened promise by one day"
    )
    args = parser.parse_args()
    asyncio.run(simulate(args.seed, args.cases, args.late, args.guess))


if __name__ == "__main__":
    main()
