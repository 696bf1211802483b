"""Issue 20's state machine: any run of the request commands and the clock keeps three promises.

Hypothesis drives the real command service (parse, access check, service, one transaction) on
SQLite with the simulated clock, through the example organisation, from Thu 25 Mar 2027 (Good
Friday is a holiday in its GB calendar, Tokyo works; the EU clocks change on Sun 28 Mar). The
rules open cases, ask (people and teams), acknowledge with and without an ETA, ask for more
time, accept and decline it, set deadlines (the owner, the asked person's manager, the owner's
manager), redirect (the asked, a manager once escalated), answer, resolve, move the promise and
move the clock (minutes, hours, overnight, over the weekend, to just past a deadline). Commands
the access model or the grammar refuses are part of the run: a refusal must write nothing.
After every step:

- every open request has exactly one pending overdue step, at its deadline, while that deadline
  is ahead, and at most one pending step of each kind, none after the deadline; once the deadline
  has passed, its overdue step has fired; a request no longer open has nothing pending;
- no step fires twice: a fired step stays as it fired, each fired step wrote one timeline entry,
  and no one got a ladder notice more often than that request's step fired;
- every notice written in the step goes to someone who may see what it is about (`sight`), just
  before or just after the step (someone a request was taken from is told so once).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlmodel import col, func, select

from bot.clock import SimClock
from bot.commands import service as dispatch
from bot.involvement import Sight, sight
from bot.messages import Message
from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from storage.states import OPEN_REQUEST_STATES, CaseStatus, Platform, Step, TimerOutcome
from storage.tables import Case, Event, Outbox, Person, Request, Team, Timer

START = datetime(2027, 3, 25, 9, 0, tzinfo=UTC)
OWNERS = ("alex", "jo")
ASKED = ("dana", "bo", "kenji", "billing", "engineering")
MEMBERS = {"billing": ("dana", "bo"), "engineering": ("kenji", "lee")}
LADDER_NOTICES = {
    "nudge": Step.NUDGE,
    "at_risk_owner": Step.AT_RISK,
    "at_risk_colleague": Step.AT_RISK,
    "overdue_manager": Step.OVERDUE,
    "overdue_owner": Step.OVERDUE,
    "overdue_colleague": Step.OVERDUE,
}
PROMISE_NOTICES = ("promise_at_risk", "promise_broken")

minutes = st.sampled_from([20, 45, 90, 150, 240, 480, 60 * 20, 60 * 26, 60 * 50, 60 * 100])
picks = st.integers(min_value=0, max_value=50)
with_cases = precondition(lambda self: bool(self.cases))
with_requests = precondition(lambda self: self.asks > 0)


class Quiet:
    """A platform that reaches everyone and shows nothing: the outbox rows are what is checked."""

    name: str = Platform.CONSOLE

    def reaches(self, person: Person) -> bool:
        return True

    async def send(self, person: Person, msg: Message, row: Outbox) -> None:
        return None


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class Asked:
    """A request as the rules need it: who owns its case, who has it, and their manager."""

    key: str
    case: str
    owner: str
    asked: str  # a handle, or a team's key while nobody has claimed it
    someone: str  # the asked person, or one of the asked team
    manager: str
    deadline: datetime
    more_time: bool


@dataclass
class Seen:
    """What the run looked like after the last step: the base the next step is checked against."""

    outbox_id: int = 0
    fired: dict[int, tuple[datetime | None, str]] | None = None
    sights: dict[tuple[int, int], Sight] | None = None
    marks: dict[int, tuple[Any, ...]] = field(default_factory=dict)


def _sight_marks(
    case: Case, latest_event: int | None, requests: list[Request], timers: list[Timer]
) -> tuple[Any, ...]:
    """What a case's `sight` depends on (its owner, who was asked, who acted, what escalated):
    while these are the same, so are everyone's sights of it."""
    asked = sorted(
        (r.id or 0, r.assignee_id, r.team_id, r.asked_by_id, r.answered_by_id)
        for r in requests
        if r.case_id == case.id
    )
    escalated = sorted(
        t.id or 0
        for t in timers
        if t.case_id == case.id and t.step == Step.OVERDUE and t.outcome == TimerOutcome.FIRED
    )
    return (case.owner_id, latest_event, tuple(asked), tuple(escalated))


class PromiseMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = tempfile.TemporaryDirectory()
        self.app: Ownit | None = None
        self.cases: list[str] = []
        self.owner_of: dict[str, str] = {}
        self.asks = 0
        self.seen = Seen(fired={}, sights={})

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @initialize(
        owner=st.sampled_from(OWNERS),
        promise=minutes,
        whom=st.sampled_from(ASKED),
        within=minutes,
    )
    def begin(self, owner: str, promise: int, whom: str, within: int) -> None:
        """Every run starts with a case waiting on someone, so its steps go to the rules."""
        self.start()
        self.open_case(owner, promise)
        self.ask(0, whom, within)

    def start(self) -> None:
        async def go() -> Ownit:
            db = Path(self.folder.name) / "ownit.db"
            config = load_settings(
                DATABASE_URL=f"sqlite:///{db}",
                OWNIT_ORG_FILE=str(example_org_file()),
                OWNIT_TIMEZONE="Europe/London",
            )
            app = await Ownit.start(config, simulated=True, channels=[Quiet()])
            assert isinstance(app.clock, SimClock)
            app.clock.start = START
            await app.clock.now()
            return app

        self.app = self.run(go())

    def teardown(self) -> None:
        if self.app is not None:
            self.run(self.app.close())
        self.loop.close()
        self.folder.cleanup()

    # --- driving ---------------------------------------------------------------------------------

    @property
    def ownit(self) -> Ownit:
        assert self.app is not None
        return self.app

    def now(self) -> datetime:
        return self.run(self.ownit.clock.now())  # type: ignore[no-any-return]

    def say(self, actor: str, text: str) -> dispatch.Reply:
        async def go() -> dispatch.Reply:
            reply = await dispatch.handle(
                self.ownit, text, dispatch.Origin(Platform.CONSOLE, actor)
            )
            await self.ownit.settle()
            return reply

        return self.run(go())  # type: ignore[no-any-return]

    def request(self, pick: int) -> Asked | None:
        """A request to act on: mostly an open one, now and then one already done with."""
        return self.run(self._request(pick))  # type: ignore[no-any-return]

    async def _request(self, pick: int) -> Asked | None:
        async with self.ownit.db.reader() as s:
            found = list((await s.exec(select(Request).order_by(col(Request.id)))).all())
            if not found:
                return None
            still = [r for r in found if r.status in OPEN_REQUEST_STATES]
            req = (still if still and pick % 5 else found)[
                pick % len(still if still and pick % 5 else found)
            ]
            case = await s.get(Case, req.case_id)
            assert case is not None
            owner = await s.get(Person, case.owner_id)
            assert owner is not None
            people: tuple[str, ...]
            if req.assignee_id is not None:
                person = await s.get(Person, req.assignee_id)
                assert person is not None
                asked, people = person.handle, (person.handle,)
            else:
                team = await s.get(Team, req.team_id)
                assert team is not None
                asked, people = team.key, MEMBERS[team.key]
            manager = "lee" if asked in ("kenji", "lee", "engineering") else "morgan"
            return Asked(
                key=req.key,
                case=case.key,
                owner=owner.handle,
                asked=asked,
                someone=people[pick % len(people)],
                manager=manager,
                deadline=req.deadline,
                more_time=req.pending_deadline is not None,
            )

    def case(self, pick: int) -> str | None:
        return self.cases[pick % len(self.cases)] if self.cases else None

    # --- the rules -------------------------------------------------------------------------------

    @rule(owner=st.sampled_from(OWNERS), promise=st.none() | minutes)
    def open_case(self, owner: str, promise: int | None) -> None:
        if len(self.cases) >= 4:
            return
        when = f" promise {iso(self.now() + timedelta(minutes=promise))}" if promise else ""
        reply = self.say(owner, f"/case open Acme: the refund{when}")
        if reply.ok:
            assert reply.case is not None
            self.cases.append(reply.case)
            self.owner_of[reply.case] = owner

    @with_cases
    @rule(pick=picks, whom=st.sampled_from(ASKED), within=minutes)
    def ask(self, pick: int, whom: str, within: int) -> None:
        case = self.case(pick)
        if case is None or self.asks >= 8:
            return
        by = iso(self.now() + timedelta(minutes=within))
        if self.say(self.owner_of[case], f"/case ask {case} @{whom} is it out? by {by}").ok:
            self.asks += 1

    @with_requests
    @rule(pick=picks, eta=st.none() | minutes)
    def acknowledge(self, pick: int, eta: int | None) -> None:
        if (r := self.request(pick)) is not None:
            when = f" eta {iso(self.now() + timedelta(minutes=eta))}" if eta else ""
            self.say(r.someone, f"/case ack {r.key}{when}")

    @with_requests
    @rule(pick=picks, later=minutes)
    def ask_more_time(self, pick: int, later: int) -> None:
        if (r := self.request(pick)) is not None:
            when = iso(r.deadline + timedelta(minutes=later))
            self.say(r.someone, f"/case more-time {r.key} {when} waiting on the bank")

    @with_requests
    @rule(pick=picks, accept=st.booleans(), by_manager=st.booleans())
    def decide_more_time(self, pick: int, accept: bool, by_manager: bool) -> None:
        if (r := self.request(pick)) is not None:
            actor = "sam" if by_manager else r.owner
            self.say(actor, f"/case {'accept' if accept else 'decline'} {r.key}")

    @with_requests
    @rule(pick=picks, within=minutes, who=st.sampled_from(["owner", "asked_manager", "sam"]))
    def set_deadline(self, pick: int, within: int, who: str) -> None:
        if (r := self.request(pick)) is not None:
            actor = {"owner": r.owner, "sam": "sam", "asked_manager": r.manager}[who]
            when = iso(self.now() + timedelta(minutes=within))
            self.say(actor, f"/case deadline {r.key} {when}")

    @with_requests
    @rule(
        pick=picks,
        to=st.sampled_from(["bo", "dana", "kenji", "morgan", "billing"]),
        who=st.sampled_from(["asked", "asked_manager", "sam", "owner"]),
    )
    def redirect(self, pick: int, to: str, who: str) -> None:
        if (r := self.request(pick)) is not None:
            actor = {"asked": r.someone, "asked_manager": r.manager, "sam": "sam"}.get(who, r.owner)
            self.say(actor, f"/case redirect {r.key} @{to} better placed")

    @with_requests
    @rule(pick=picks)
    def answer(self, pick: int) -> None:
        if (r := self.request(pick)) is not None:
            self.say(r.someone, f"/case answer {r.key} it went out today")

    @with_cases
    @rule(pick=picks)
    def resolve(self, pick: int) -> None:
        if (case := self.case(pick)) is not None:
            self.say(self.owner_of[case], f"/case resolve {case}")

    @with_cases
    @rule(pick=picks, ahead=minutes)
    def move_promise(self, pick: int, ahead: int) -> None:
        if (case := self.case(pick)) is not None:
            when = iso(self.now() + timedelta(minutes=ahead))
            self.say(self.owner_of[case], f"/case promise {case} {when} an answer")

    @rule(by=st.sampled_from([10, 35, 60, 130, 60 * 7, 60 * 16, 60 * 24, 60 * 65]))
    def advance_clock(self, by: int) -> None:
        async def go() -> None:
            clock = self.ownit.clock
            assert isinstance(clock, SimClock)
            await clock.advance(timedelta(minutes=by))
            await self.ownit.settle()

        self.run(go())

    @with_requests
    @rule(pick=picks, past=st.sampled_from([0, 1, 30]))
    def pass_a_deadline(self, pick: int, past: int) -> None:
        """Move the clock to just past a request's deadline, where the ladder has most to do."""
        if (r := self.request(pick)) is None or r.deadline + timedelta(minutes=past) <= self.now():
            return

        async def go() -> None:
            clock = self.ownit.clock
            assert isinstance(clock, SimClock)
            await clock.set(r.deadline + timedelta(minutes=past))
            await self.ownit.settle()

        self.run(go())

    # --- the invariants --------------------------------------------------------------------------

    @invariant()
    def promises_hold(self) -> None:
        if self.app is not None:
            self.run(self._check())

    async def _check(self) -> None:
        now = await self.ownit.clock.now()
        async with self.ownit.db.reader() as s:
            requests = list((await s.exec(select(Request))).all())
            cases = {c.id: c for c in (await s.exec(select(Case))).all()}
            timers = list((await s.exec(select(Timer))).all())
            events = list((await s.exec(select(Event).where(col(Event.kind).like("step:%")))).all())
            outbox = list((await s.exec(select(Outbox))).all())
            people = list((await s.exec(select(Person))).all())
            self._every_open_request_is_followed(now, requests, cases, timers)
            self._no_step_fires_twice(timers, events, outbox)
            marks = select(Event.case_id, func.max(Event.id)).group_by(col(Event.case_id))
            latest = {case_id: event_id for case_id, event_id in (await s.exec(marks)).all()}
            sights = dict(self.seen.sights or {})
            for case in cases.values():
                assert case.id is not None
                mark = _sight_marks(case, latest.get(case.id), requests, timers)
                if self.seen.marks.get(case.id) == mark:
                    continue  # nothing sight depends on changed: the last answers stand
                self.seen.marks[case.id] = mark
                for p in people:
                    assert p.id is not None
                    sights[(p.id, case.id)] = await sight(session=s, person=p, case=case)
        self._notices_within_sight(outbox, requests, sights)
        self.seen.sights = sights
        self.seen.outbox_id = max((row.id or 0 for row in outbox), default=0)

    def _every_open_request_is_followed(
        self,
        now: datetime,
        requests: list[Request],
        cases: dict[int | None, Case],
        timers: list[Timer],
    ) -> None:
        for req in requests:
            mine = [t for t in timers if t.request_id == req.id]
            pending = [t for t in mine if not t.done]
            still_open = (
                req.status in OPEN_REQUEST_STATES and cases[req.case_id].status == CaseStatus.OPEN
            )
            if not still_open:
                assert not pending, f"{req.key} is {req.status} but has steps pending: {pending}"
                continue
            kinds = Counter(t.step for t in pending)
            assert all(n == 1 for n in kinds.values()), f"{req.key}: pending twice: {pending}"
            assert all(t.due_at <= req.deadline for t in pending), (
                f"{req.key} (due {req.deadline}) has a step after its deadline: {pending}"
            )
            assert all(t.due_at > now for t in pending), f"{req.key}: a due step did not fire"
            if req.deadline > now:
                overdue = [t for t in pending if t.step == Step.OVERDUE]
                assert [t.due_at for t in overdue] == [req.deadline], (
                    f"{req.key} is open and due {req.deadline} but its next steps are {pending}"
                )
            else:
                fired = [
                    t
                    for t in mine
                    if t.step == Step.OVERDUE
                    and t.outcome == TimerOutcome.FIRED
                    and t.due_at == req.deadline
                ]
                assert fired, f"{req.key} passed its deadline {req.deadline} and nobody heard"

    def _no_step_fires_twice(
        self, timers: list[Timer], events: list[Event], outbox: list[Outbox]
    ) -> None:
        assert self.seen.fired is not None
        assert len({t.key for t in timers}) == len(timers)
        for t in timers:
            assert t.id is not None
            if t.id in self.seen.fired:
                assert (t.fired_at, t.outcome) == self.seen.fired[t.id], f"{t.key} fired again"
            elif t.outcome == TimerOutcome.FIRED:
                self.seen.fired[t.id] = (t.fired_at, t.outcome)
        fired = Counter(
            (t.request_id, t.case_id if t.request_id is None else None, t.step)
            for t in timers
            if t.outcome == TimerOutcome.FIRED
        )
        logged = Counter(
            (
                e.request_id,
                e.case_id if e.request_id is None else None,
                e.kind.removeprefix("step:"),
            )
            for e in events
        )
        assert logged == fired, f"timeline steps {logged} but fired {fired}"
        told = Counter(
            (row.person_id, row.kind, row.request_id)
            for row in outbox
            if row.kind in LADDER_NOTICES
        )
        for (_, kind, request_id), n in told.items():
            assert n <= fired[(request_id, None, LADDER_NOTICES[kind])], (
                f"R-{request_id}: {kind} sent {n} times to one person"
            )
        warned = Counter(
            (row.person_id, row.case_id) for row in outbox if row.kind in PROMISE_NOTICES
        )
        for (_, case_id), n in warned.items():
            assert n <= fired[(None, case_id, Step.PROMISE_AT_RISK)], (
                f"C-{case_id}: the promise warning went {n} times to one person"
            )

    def _notices_within_sight(
        self,
        outbox: list[Outbox],
        requests: list[Request],
        sights: dict[tuple[int, int], Sight],
    ) -> None:
        before = self.seen.sights or {}
        by_id = {r.id: r for r in requests}
        for row in outbox:
            if (row.id or 0) <= self.seen.outbox_id or row.case_id is None:
                continue
            pair = (row.person_id, row.case_id)
            views = [v for v in (before.get(pair), sights.get(pair)) if v is not None]
            req = by_id.get(row.request_id) if row.request_id is not None else None
            shown = any(v.shows(req) if req else v.any for v in views)
            assert shown, (
                f"{row.kind} about C-{row.case_id}"
                f"{f' / {req.key}' if req else ''} went to person {row.person_id},"
                " who may not see it"
            )


PromiseMachine.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_promise_machine = PromiseMachine.TestCase


def test_the_machine_sees_a_deadline_moved_after_its_ladder_fired() -> None:
    """The run the machine must judge: every step fired, then the deadline moved on."""
    machine = PromiseMachine()
    try:
        machine.start()
        machine.open_case(owner="alex", promise=None)
        machine.ask(pick=0, whom="dana", within=20)
        machine.advance_clock(by=35)
        machine.promises_hold()
        machine.set_deadline(pick=1, within=90, who="owner")
        machine.promises_hold()
        machine.advance_clock(by=130)
        machine.promises_hold()

        async def events() -> list[str]:
            async with machine.ownit.db.reader() as s:
                found = await s.exec(select(Event.kind).where(Event.kind == "step:overdue"))
                return list(found.all())

        assert machine.run(events()) == ["step:overdue", "step:overdue"]
    finally:
        machine.teardown()
