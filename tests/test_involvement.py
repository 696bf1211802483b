"""Who is involved in what (`bot.involvement`), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import involvement
from storage.states import CaseStatus, Platform, RequestStatus, Step, TimerOutcome
from storage.tables import Case, Membership, Person, Request, Team, Timer
from tests.conftest import ConsoleBot

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def _people(bot: ConsoleBot) -> dict[str, Person]:
    """A chain big boss → boss → owner, a colleague with a manager, a team, and strangers."""
    async with bot.app.db.session() as s:
        made: dict[str, Person] = {}
        for handle, manager in [
            ("t.bigboss", None),
            ("t.boss", "t.bigboss"),
            ("t.owner", "t.boss"),
            ("t.lead", None),
            ("t.colleague", "t.lead"),
            ("t.member", None),
            ("t.asker", None),
            ("t.stranger", None),
            ("t.admin", None),
        ]:
            p = Person(
                handle=handle,
                name=handle,
                manager_id=made[manager].id if manager else None,
                is_admin=handle == "t.admin",
                slack_id=f"U{handle[2:].upper()}",
            )
            s.add(p)
            await s.flush()
            made[handle] = p
        team = Team(key="t.billing", name="Billing")
        s.add(team)
        await s.flush()
        s.add(Membership(team_id=team.id, person_id=made["t.member"].id))
        case = Case(
            customer="Acme",
            summary="invoice",
            owner_id=made["t.owner"].id,
            opened_at=NOW,
            platform=Platform.SLACK,
            channel="CSUP",
            thread="1.2",
        )
        s.add(case)
        await s.flush()
        base = {"case_id": case.id, "asked_by_id": made["t.asker"].id, "opened_at": NOW}
        q1 = Request(**base, assignee_id=made["t.colleague"].id, question="q1", deadline=NOW)
        s.add(q1)
        await s.flush()
        # q1 went overdue: the ladder told the colleague's manager, who may see it from then on
        s.add(
            Timer(
                key=f"{q1.id}:overdue",
                step=Step.OVERDUE,
                case_id=case.id,
                request_id=q1.id,
                due_at=NOW,
                done=True,
                outcome=TimerOutcome.FIRED,
            )
        )
        s.add(Request(**base, team_id=team.id, question="q2", deadline=NOW + timedelta(hours=1)))
        s.add(
            Request(
                **base,
                assignee_id=made["t.colleague"].id,
                question="q3",
                deadline=NOW,
                status=RequestStatus.ANSWERED,
            )
        )
        other = Case(customer="Other", summary="x", owner_id=made["t.stranger"].id, opened_at=NOW)
        s.add(other)
        await s.flush()
        s.add(
            Request(
                **{**base, "case_id": other.id},
                assignee_id=made["t.colleague"].id,
                question="q4",
                deadline=NOW,
            )
        )
        made["case"] = case  # type: ignore[assignment]
        made["other"] = other  # type: ignore[assignment]
    return made


async def test_who_is_involved_in_a_case(bot: ConsoleBot) -> None:
    made = await _people(bot)
    case = made["case"]
    async with bot.app.db.reader() as s:
        case = await s.get(Case, made["case"].id)
        assert case is not None
        for handle in (
            "t.owner",
            "t.boss",
            "t.bigboss",
            "t.admin",
            "t.asker",
            "t.colleague",
            "t.lead",
            "t.member",
        ):
            person = made[handle]
            assert await involvement.involved(session=s, person=person, case=case), handle
        assert not await involvement.involved(session=s, person=made["t.stranger"], case=case)


async def test_a_management_loop_ends(bot: ConsoleBot) -> None:
    made = await _people(bot)
    async with bot.app.db.session() as s:
        top = await s.get(Person, made["t.bigboss"].id)
        assert top is not None
        top.manager_id = made["t.owner"].id  # owner → boss → big boss → owner
        s.add(top)
    async with bot.app.db.reader() as s:
        other = await s.get(Case, made["other"].id)
        assert other is not None
        assert not await involvement.involved(session=s, person=made["t.boss"], case=other)


async def test_open_requests_and_threads(bot: ConsoleBot) -> None:
    made = await _people(bot)
    async with bot.app.db.reader() as s:
        mine = await involvement.open_requests_of(session=s, person=made["t.colleague"])
        assert [r.question for r in mine] == ["q4", "q1"]  # newest first, the answered one left
        here = await involvement.open_requests_of(
            session=s, person=made["t.colleague"], case_id=made["case"].id
        )
        assert [r.question for r in here] == ["q1"]
        team = await involvement.open_requests_of(session=s, person=made["t.member"])
        assert [r.question for r in team] == ["q2"]
        assert await involvement.open_requests_of(session=s, person=made["t.stranger"]) == []
        found = await involvement.case_for_thread(
            session=s, platform=Platform.SLACK, channel="CSUP", thread="1.2"
        )
        assert found is not None and found.id == made["case"].id
        assert (
            await involvement.case_for_thread(
                session=s, platform=Platform.SLACK, channel="CSUP", thread=None
            )
            is None
        )
        owned = await involvement.open_cases_owned(session=s, person=made["t.owner"])
        assert [c.status for c in owned] == [CaseStatus.OPEN]
        around = {p.handle for p in await involvement.people_around(session=s, case_id=owned[0].id)}
        assert {"t.owner", "t.asker", "t.colleague", "t.boss", "t.lead"} <= around
        assert "t.stranger" not in around
