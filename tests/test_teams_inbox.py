"""Acknowledge first, in Teams too: an activity is kept before Teams gets its 201 (or its invoke
response) and handled after, by the replica that kept it or, if that one dies first, by another."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlmodel import select, update

from storage.states import Platform, RequestStatus
from storage.tables import Case, InboxItem, Request
from tests.fakes.slack_api import until
from tests.teams_support import ALEX, DANA, TeamsWorld, personal_conversation, teams_world

QUICK = {"OWNIT_INBOX_LEASE": "1.5"}  # leases lapse (and are looked at) within a second or two


async def kept(w: TeamsWorld) -> list[InboxItem]:
    async with w.app.db.reader() as s:
        return list((await s.exec(select(InboxItem).order_by(InboxItem.id))).all())  # type: ignore[arg-type]


async def count(w: TeamsWorld, table: type) -> int:
    async with w.app.db.reader() as s:
        return len((await s.exec(select(table))).all())


async def die(w: TeamsWorld) -> None:
    """Leave the rows as a SIGKILLed replica does: leased to it, and the lease lapsed."""
    async with w.app.db.session() as s:
        await s.exec(
            update(InboxItem).values(  # type: ignore[call-overload]
                taken_by="died", taken_until=datetime.now(UTC) - timedelta(seconds=1)
            )
        )


def handled(w: TeamsWorld, check: Callable[[], Awaitable[bool]]) -> Callable[[], Awaitable[bool]]:
    async def done() -> bool:
        return await check() and not await kept(w)

    return done


async def test_a_message_kept_when_its_replica_died_is_handled_by_another(pg_url: str) -> None:
    async with teams_world(pg_url, inbox_workers=0, **QUICK) as first:
        act = first.personal(ALEX, "case open Initech: printer on fire p1")
        assert (await first.post(act, settle=False))[0] == 201
        assert (await first.post(act, settle=False))[0] == 201  # a Bot Framework retry
        rows = await kept(first)
        assert [(r.platform, r.kind, r.key) for r in rows] == [
            (Platform.TEAMS, "message", f"teams:{act['id']}")
        ]
        assert await count(first, Case) == 0  # acknowledged, not handled yet
        assert first.fake.posts() == []
        await die(first)

        async with teams_world(pg_url, fake=first.fake, **QUICK) as second:

            async def opened() -> bool:
                return await count(second, Case) == 1

            await until(handled(second, opened), within=10)
            assert second.app.metrics.inbox_taken_over._value.get() == 1
            await second.fake.wait_for("C-1 opened for Initech", personal_conversation(ALEX))
            replies = [t for t in second.fake.texts() if "opened for Initech" in t]
            assert len(replies) == 1


async def test_an_invoke_kept_when_its_replica_died_is_done_and_answered_by_another(
    sqlite_url: str,
) -> None:
    """The press is answered "working on it" by a replica that handles nothing; the replica that
    takes it over does it once and posts the result where the card was."""
    async with teams_world(sqlite_url, inbox_workers=0, **QUICK) as first:
        await first.post(first.personal(ALEX, "case open Acme: refund p3"), settle=False)
        await first.post(first.personal(ALEX, "case ask C-1 @dana refund done?"), settle=False)
        press = first.invoke(DANA, {"ownit": "ack", "key": "R-1", "value": ""})
        status, body = await first.post(press, settle=False)
        assert status == 200
        assert body["type"] == "application/vnd.microsoft.activity.message"
        assert "Working on it" in body["value"]
        assert [r.kind for r in await kept(first)] == ["message", "message", "invoke"]
        await die(first)

        async with teams_world(sqlite_url, fake=first.fake, inbox_workers=1, **QUICK) as second:

            async def acknowledged() -> bool:
                async with second.app.db.reader() as s:
                    req = (await s.exec(select(Request))).first()
                return req is not None and req.status == RequestStatus.ACKNOWLEDGED

            await until(handled(second, acknowledged), within=10)
            await second.fake.wait_for("You acknowledged R-1", personal_conversation(DANA))
            await second.fake.wait_for("R-1 asked of Dana Billing", personal_conversation(ALEX))
            assert await count(second, Request) == 1


async def test_an_invoke_slower_than_teams_waits_is_answered_in_the_conversation(
    sqlite_url: str,
) -> None:
    """The request gives up waiting for its worker ("working on it"); the worker then posts the
    reply where the card was, once, instead of on the response nobody reads."""
    async with teams_world(sqlite_url) as w:
        await w.post(w.install(DANA))
        await w.post(w.personal(ALEX, "case open Acme: refund p3"))
        await w.post(w.personal(ALEX, "case ask C-1 @dana refund done?"))
        await w.settle()
        w.teams.invoke_limit = 0.0
        status, body = await w.post(w.invoke(DANA, {"ownit": "ack", "key": "R-1", "value": ""}))
        assert status == 200 and "Working on it" in body["value"]
        acked = [
            t for t in w.fake.texts(personal_conversation(DANA)) if "You acknowledged R-1" in t
        ]
        assert len(acked) == 1
        async with w.app.db.reader() as s:
            assert (await s.exec(select(Request))).one().status == RequestStatus.ACKNOWLEDGED
