"""The world of the promise simulation (bench/promises.py): an organisation, a plan of cases,
and a model of how people react to ownit's notices. Pure: no database, no ownit runtime.

The organisation: 40 people in 5 teams and 3 time zones. Support (London, England's holidays) and
Success (New York, US) own the cases; Billing (London), Engineering (Tokyo, JP) and Operations
(New York) are asked. Each team has a lead who manages it; each asked person's backup is the next
person of their team. Business hours 09:00-17:00 local, Monday to Friday.

The plan, drawn once from the seed and shared by the run with ownit and the one without: a case
opens in its owner's business hours with a promise half a day to two days of the owner's
business time ahead; its owner asks one to three colleagues who have at least an hour of their
own working day before the deadline, each by two business hours of the owner before the promise
(or the owner's buffer, when the promise is close); each colleague
would answer at a time of their own: three in four inside the deadline (somewhere in its
window), one in four late (half an hour to a day and a half of their business time past it).
Some acknowledge first, some of those with an ETA, and some who know they will be late ask for
more time. Once every request is answered, the owner replies to the customer within a quarter
of an hour to an hour of their business time and resolves the case.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.business_time import Calendar
from bot.ladder import latest_before

START = datetime(2027, 3, 22, 8, 0, tzinfo=UTC)  # Mon 22 Mar 2027: Easter is on 28 Mar
LAST_OPEN = datetime(2027, 4, 1, 15, 0, tzinfo=UTC)  # cases open until Thu 1 Apr
HOUR = timedelta(hours=1)

TEAMS = (  # key, name, time zone, holidays, members (besides the lead), owns cases
    ("support", "Support", "Europe/London", "GB-ENG", 9, True),
    ("success", "Success", "America/New_York", "US", 7, True),
    ("billing", "Billing", "Europe/London", "GB-ENG", 6, False),
    ("engineering", "Engineering", "Asia/Tokyo", "JP", 7, False),
    ("ops", "Operations", "America/New_York", "US", 6, False),
)
"""England's holidays (`GB-ENG`): Easter Monday is a bank holiday there, not in all of the UK."""


@dataclass(frozen=True)
class Member:
    handle: str
    team: str
    calendar: Calendar
    manager: str
    backup: str | None


def organisation() -> tuple[dict[str, object], dict[str, Member]]:
    """The org file's content, and everyone by handle."""
    people: list[dict[str, object]] = []
    teams: list[dict[str, object]] = []
    everyone: dict[str, Member] = {}
    for key, name, tz, holidays, size, _ in TEAMS:
        lead = f"{key}-lead"
        members = [f"{key}{n:02d}" for n in range(1, size + 1)]
        country, _, subdiv = holidays.partition("-")
        cal = Calendar(tz=tz, country=country, subdiv=subdiv or None)
        where = {"timezone": tz, "country": country, **({"subdiv": subdiv} if subdiv else {})}
        for i, handle in enumerate([lead, *members]):
            backup = None if handle == lead else members[i % len(members)]
            entry: dict[str, object] = {
                "handle": handle,
                "name": f"{name} {handle.removeprefix(key).strip('-').title() or 'Lead'}",
                **where,
            }
            if handle != lead:
                entry["manager"] = lead
                entry["backup"] = backup
            people.append(entry)
            everyone[handle] = Member(handle, key, cal, lead, backup)
        teams.append(
            {
                "key": key,
                "name": name,
                "manager": lead,
                "members": [lead, *members],
                **where,
            }
        )
    org: dict[str, object] = {
        "defaults": {"timezone": "Europe/London", "hours": "09:00-17:00", "workdays": "mon-fri"},
        "admins": [],
        "policy": {"nudge": 0.25, "at_risk": 0.75, "buffer": "1h"},
        "people": people,
        "teams": teams,
    }
    return org, everyone


@dataclass
class PlannedRequest:
    """A request as the colleague would handle it if nobody reminded them."""

    to: str
    question: str
    deadline: datetime
    answer_at: datetime  # when they would answer, unreminded
    late: bool
    ack_at: datetime | None = None
    eta: datetime | None = None
    more_time_to: datetime | None = None  # asked at ack_at, when they know they will be late


@dataclass
class PlannedCase:
    owner: str
    customer: str
    opened_at: datetime
    promise: datetime
    reply: timedelta  # the owner's business time from the last answer to resolving
    requests: list[PlannedRequest] = field(default_factory=list)


def business_share(cal: Calendar, start: datetime, end: datetime, share: float) -> datetime:
    """The instant `share` of the way through the business time between start and end."""
    window = cal.between(start, end)
    if window <= timedelta(0):
        return start
    return min(cal.add(start, window * share), end)


def plan(seed: int, cases: int, late_share: float) -> tuple[list[PlannedCase], dict[str, Member]]:
    """Cases and how their colleagues would answer them, the same for every run of `seed`."""
    rng = random.Random(seed)
    _, people = organisation()
    owners = [m for m in people.values() if m.handle != m.manager and _owns(m.team)]
    asked = [m for m in people.values() if m.handle != m.manager and not _owns(m.team)]
    planned: list[PlannedCase] = []
    span = (LAST_OPEN - START).total_seconds()
    for n in range(cases):
        owner = rng.choice(owners)
        cal = owner.calendar
        opened = cal.next_open(START + timedelta(seconds=rng.uniform(0, span)))
        promise = cal.add(opened, HOUR * rng.choice([4, 8, 8, 16]))
        case = PlannedCase(
            owner=owner.handle,
            customer=f"Customer {n + 1:03d}",
            opened_at=opened,
            promise=promise,
            reply=timedelta(minutes=rng.uniform(15, 60)),
        )
        by = latest_before(cal, promise, 2 * HOUR, opened)
        if cal.between(opened, by) < HOUR:
            by = latest_before(cal, promise, HOUR, opened)
        # Owners ask colleagues who have at least an hour of their own day before the deadline
        # (or, when nobody elsewhere has, colleagues in their own time zone).
        awake = [m for m in asked if m.calendar.between(opened, by) >= HOUR]
        awake = awake or [m for m in asked if m.calendar.tz == cal.tz]
        for who in rng.sample(awake, min(len(awake), rng.choice([1, 1, 2, 2, 3]))):
            case.requests.append(_request(rng, who, opened, by, late_share))
        planned.append(case)
    planned.sort(key=lambda c: c.opened_at)
    return planned, people


def _owns(team: str) -> bool:
    return next(t[5] for t in TEAMS if t[0] == team)


def _request(
    rng: random.Random, who: Member, asked: datetime, deadline: datetime, late_share: float
) -> PlannedRequest:
    cal = who.calendar
    late = rng.random() < late_share
    if late:
        answer = cal.add(deadline, timedelta(minutes=rng.uniform(30, 12 * 60)))
    else:
        answer = business_share(cal, asked, deadline, rng.uniform(0.1, 0.95))
    req = PlannedRequest(who.handle, "is the refund out?", deadline, answer, late)
    if rng.random() < 0.6:
        ack = business_share(cal, asked, min(answer, deadline), rng.uniform(0.05, 0.3))
        req.ack_at = ack
        if late and rng.random() < 0.3:
            req.more_time_to = cal.add(answer, timedelta(minutes=30))
        elif rng.random() < 0.5:
            guess = answer + timedelta(minutes=rng.gauss(0, 45))
            req.eta = max(guess, ack + timedelta(minutes=15))
    return req


@dataclass(frozen=True)
class Reactions:
    """How people react to a notice: each a probability, drawn from the run's own random stream.

    Colleagues: reminded before the deadline (a nudge, an at-risk reminder), one who would be late
    sometimes answers inside the deadline after all; told it is overdue, some answer within two
    business hours. A manager escalated to hands the request to its holder's backup (who answers
    within three business hours) or gives it a new deadline with the button. Owners accept most
    asks for more time, and move the promise to the time a warning offers (the "Move the promise
    to" button) and tell the customer, unless their own reply is already under way in time.
    """

    nudged_acknowledges: float = 0.5
    nudged_pulls_in: float = 0.2
    at_risk_pulls_in: float = 0.35
    overdue_answers: float = 0.5
    manager_redirects: float = 0.6
    manager_moves_deadline: float = 0.3
    owner_accepts_more_time: float = 0.85


@dataclass
class Held:
    """A request in the run: who holds it, when they will answer (`version` voids older plans)."""

    case: int
    plan: PlannedRequest
    holder: str
    answer_at: datetime
    version: int = 0
    answered: bool = False
    answered_at: datetime | None = None
    holders: list[tuple[datetime, str]] = field(default_factory=list)
