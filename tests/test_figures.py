"""Figures against hand-computed values on a fixed data set, on SQLite and PostgreSQL.

Business-time edge cases: an answer across a weekend, one across the English Christmas holidays
(Fri 25 and the substitute Mon 28 Dec 2026), and a Tokyo colleague whose Monday is a Japanese
holiday (23 Nov 2026, Labour Thanksgiving Day).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from bot import figures
from bot.business_time import Calendar
from bot.figures import BusinessIndex, business_durations, median, p90
from storage.tables import Case, Event, Person, Request, Team
from tests.conftest import ConsoleBot

H = timedelta(hours=1)
M = timedelta(minutes=1)


def utc(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


START, END, NOW = utc(11, 16), utc(1, 1, year=2027), utc(1, 10, year=2027)


async def seed(bot: ConsoleBot) -> dict[str, Any]:
    """The fixed data set (times are UTC; London is on GMT, UTC+0, in Nov and Dec)."""
    async with bot.app.db.session() as s:
        people = {p.handle: p for p in (await s.exec(select(Person))).all()}
        teams = {t.key: t for t in (await s.exec(select(Team))).all()}
        alex = people["alex"].id
        assert alex is not None

        def case(customer: str, category: str | None, opened: datetime, **kw: Any) -> Case:
            c = Case(
                customer=customer,
                summary="s",
                owner_id=alex,
                category=category,
                opened_at=opened,
                **kw,
            )
            s.add(c)
            return c

        c1 = case(
            "Acme",
            "billing",
            utc(11, 20, 15),
            status="resolved",
            resolved_at=utc(11, 24, 10),
            promise_at=utc(11, 24, 17),
            promise_kept=True,
            csat=5,
            handoffs=2,
        )
        c2 = case(
            "Acme",
            "billing",
            utc(11, 23, 10),
            status="resolved",
            resolved_at=utc(11, 25, 12),
            promise_at=utc(11, 25, 10),
            promise_kept=False,
            csat=2,
        )
        c3 = case("Globex", "shipping", utc(11, 24, 9))
        c4 = case("Acme", None, utc(11, 25, 9))
        await s.flush()

        def req(
            c: Case, who: str | None, opened: datetime, deadline: datetime, **kw: Any
        ) -> Request:
            assignee = people[who].id if who else None
            answered = kw.get("answered_at")
            r = Request(
                case_id=c.id or 0,
                asked_by_id=alex,
                assignee_id=assignee,
                question="q",
                opened_at=opened,
                deadline=deadline,
                status="answered" if answered else "open",
                answered_by_id=assignee if answered else None,
                acked_at=kw.pop("acked_at", answered),
                **kw,
            )
            s.add(r)
            return r

        # across a weekend: Fri 16:00-17:00 + Mon 09:00-10:00 = 2h; on time
        ra = req(c1, "dana", utc(11, 20, 16), utc(11, 23, 12), answered_at=utc(11, 23, 10))
        ra.redirects = 1
        # across Christmas: Thu 24 16-17 + Tue 29 09-10 = 2h (25, 26, 27 and 28 Dec closed)
        req(c2, "dana", utc(12, 24, 16), utc(12, 29, 12), answered_at=utc(12, 29, 10))
        # late: 4h30m, acknowledged after 15m
        rc = req(
            c3,
            "bo",
            utc(11, 23, 9),
            utc(11, 23, 12),
            answered_at=utc(11, 23, 13, 30),
            acked_at=utc(11, 23, 9, 15),
        )
        # overnight: Mon 09:00-17:00 + Tue 09:00-10:00 = 9h; acknowledged after 30m
        req(
            c4,
            "bo",
            utc(11, 23, 9),
            utc(11, 24, 17),
            answered_at=utc(11, 24, 10),
            acked_at=utc(11, 23, 9, 30),
        )
        # still open past its deadline: missed
        re_ = req(c3, "dana", utc(11, 23, 9), utc(11, 25, 12))
        # an unclaimed billing team request past its deadline: missed, counted for the team
        rf = req(c4, None, utc(11, 23, 9), utc(11, 23, 17), team_id=teams["billing"].id)
        # Tokyo: Fri 20 Nov 17:00 JST (closed) to Tue 24 Nov 10:00 JST, Mon 23 a holiday = 1h
        req(c3, "kenji", utc(11, 20, 8), utc(11, 24, 9), answered_at=utc(11, 24, 1))
        # before the period: not counted
        rx = req(c1, "dana", utc(11, 9, 9), utc(11, 9, 12), answered_at=utc(11, 10, 9))
        await s.flush()

        def event(kind: str, at: datetime, c: Case, r: Request | None = None) -> None:
            s.add(Event(case_id=c.id or 0, request_id=r.id if r else None, at=at, kind=kind))

        event("step:nudge", utc(11, 23, 10), c3, rc)
        event("step:overdue", utc(11, 25, 12), c3, re_)
        event("step:at_risk", utc(11, 23, 15), c4, rf)
        event("step:promise_at_risk", utc(11, 25, 11), c2)
        event("step:nudge", utc(11, 10, 9), c1, rx)
    return {"people": people, "teams": teams}


async def scope_of(bot: ConsoleBot, handle: str) -> figures.Scope:
    async with bot.app.db.reader() as s:
        manager = (await s.exec(select(Person).where(Person.handle == handle))).one()
        return await figures.manager_scope(s, manager)


async def compute(bot: ConsoleBot, scope: figures.Scope) -> figures.Figures:
    async with bot.app.db.reader() as s:
        return await figures.compute(
            s, scope=scope, start=START, end=END, now=NOW, default=bot.app.calendar
        )


async def check_answers_on_time_and_business_durations(
    bot: ConsoleBot, data: dict[str, Any]
) -> None:
    scope = await scope_of(bot, "morgan")
    assert set(scope.people) == {data["people"]["dana"].id, data["people"]["bo"].id}
    f = await compute(bot, scope)
    assert (f.answered, f.on_time, f.missed_open, f.due) == (4, 3, 2, 6)
    assert f.on_time_rate == 0.5
    # answers: 2h, 2h, 4h30m, 9h
    assert f.answer_median == 3 * H + 15 * M
    assert f.answer_p90 == 9 * H
    # acknowledgements: 2h, 2h (by the answer), 15m, 30m
    assert f.ack_median == H + 15 * M
    assert f.ack_p90 == 2 * H
    assert f.escalations == {"nudge": 1, "at_risk": 1, "overdue": 1, "promise_at_risk": 0}
    assert f.cases_opened == 0 and f.cases_resolved == 0


async def check_tokyo_holiday_and_own_calendar(bot: ConsoleBot, data: dict[str, Any]) -> None:
    f = await compute(bot, await scope_of(bot, "lee"))
    assert (f.answered, f.on_time, f.due) == (1, 1, 1)
    assert f.answer_median == H and f.answer_p90 == H


async def check_cases_promises_handoffs_categories_csat(
    bot: ConsoleBot, data: dict[str, Any]
) -> None:
    f = await compute(bot, await scope_of(bot, "sam"))
    assert f.due == 0 and f.on_time_rate is None
    assert f.escalations["promise_at_risk"] == 1
    assert (f.cases_resolved, f.promises_kept, f.promises_broken) == (2, 1, 1)
    assert f.promise_rate == 0.5
    assert (f.handoffs, f.redirects, f.transfers, f.handoffs_per_case) == (2, 1, 1, 1.0)
    assert f.cases_opened == 4
    assert f.categories == [("billing", 2), ("shipping", 1), ("uncategorised", 1)]
    assert f.repeat_customers == [("Acme", 3)] and f.repeat_customer_count == 1
    assert (f.csat_count, f.csat_average, f.csat_rate) == (2, 3.5, 0.5)
    row = f.as_row()
    assert (
        row["csat_average"] == 3.5
        and row["top_categories"] == "billing 2; shipping 1; uncategorised 1"
    )


async def check_team_and_person_scopes(bot: ConsoleBot, data: dict[str, Any]) -> None:
    async with bot.app.db.reader() as s:
        team = await figures.team_scope(s, data["teams"]["billing"])
        ft = await figures.compute(
            s, scope=team, start=START, end=END, now=NOW, default=bot.app.calendar
        )
        dana = figures.person_scope(data["people"]["dana"])
        fd = await figures.compute(
            s, scope=dana, start=START, end=END, now=NOW, default=bot.app.calendar
        )
        lines = await figures.per_person(s, scope=team, start=START, end=END, now=NOW)
    assert (ft.due, ft.on_time) == (6, 3)
    assert (fd.answered, fd.on_time, fd.missed_open, fd.due) == (2, 2, 1, 3)
    assert fd.answer_median == 2 * H
    people = data["people"]
    assert [(p.person_id, p.due, p.on_time) for p in lines] == [
        (people["bo"].id, 2, 1),
        (people["dana"].id, 3, 2),
    ]


async def check_weekly_series(bot: ConsoleBot, data: dict[str, Any]) -> None:
    morgan, sam = await scope_of(bot, "morgan"), await scope_of(bot, "sam")
    async with bot.app.db.reader() as s:
        points = await figures.weekly_series(
            s, scope=morgan, end=utc(12, 7), now=NOW, weeks=3, tz=bot.app.calendar.zone
        )
        promises = await figures.weekly_series(
            s, scope=sam, end=utc(12, 7), now=NOW, weeks=3, tz=bot.app.calendar.zone
        )
    assert [p.start for p in points] == [utc(11, 16), utc(11, 23), utc(11, 30)]
    assert [(p.due, p.on_time) for p in points] == [(0, 0), (5, 2), (0, 0)]
    assert [(p.promises_decided, p.promises_kept) for p in promises] == [(0, 0), (2, 1), (0, 0)]


def test_business_index_matches_the_calendar() -> None:
    rng = random.Random(7)
    cals = [
        Calendar(tz="Europe/London", country="GB"),
        Calendar(tz="Asia/Tokyo", country="JP"),
        Calendar(tz="America/New_York", country="US", workdays=frozenset({0, 1, 2, 3})),
    ]
    base = utc(10, 1)
    pairs = []
    for _ in range(300):
        cal = rng.choice(cals)
        a = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 120))
        b = a + timedelta(minutes=rng.randrange(0, 60 * 24 * 20))
        pairs.append((cal, a, b))
    got = business_durations(pairs)
    assert got == [cal.between(a, b) for cal, a, b in pairs]
    index = BusinessIndex(cals[0], utc(12, 20).date(), utc(12, 31).date())
    assert index.between(utc(12, 24, 16), utc(12, 29, 10)) == 2 * H


def test_percentiles() -> None:
    assert median([]) is None and p90([]) is None
    assert median([H]) == H and p90([H]) == H
    values = [timedelta(minutes=m) for m in range(1, 11)]
    assert median(values) == timedelta(minutes=5, seconds=30)
    assert p90(values) == timedelta(minutes=9)


async def check_everyone_at_once_equals_each_on_their_own(
    bot: ConsoleBot, data: dict[str, Any]
) -> None:
    people = {p.id: p for p in data["people"].values() if p.id is not None}
    async with bot.app.db.reader() as s:
        together = await figures.compute_by_person(
            s, people=list(people), start=START, end=END, now=NOW, default=bot.app.calendar
        )
        for pid, person in people.items():
            alone = await figures.compute(
                s,
                scope=figures.person_scope(person),
                start=START,
                end=END,
                now=NOW,
                default=bot.app.calendar,
            )
            got = together[pid].as_row()
            want = alone.as_row()
            got.pop("scope"), want.pop("scope")
            assert got == want, person.handle
    assert together[data["people"]["alex"].id or 0].cases_opened == 4


async def test_figures_of_the_fixed_data_set(bot: ConsoleBot) -> None:
    """One data set per database, every check against it (an app start per check is slow)."""
    data = await seed(bot)
    await check_answers_on_time_and_business_durations(bot, data)
    await check_tokyo_holiday_and_own_calendar(bot, data)
    await check_cases_promises_handoffs_categories_csat(bot, data)
    await check_team_and_person_scopes(bot, data)
    await check_weekly_series(bot, data)
    await check_everyone_at_once_equals_each_on_their_own(bot, data)
