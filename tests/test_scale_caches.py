"""People and the policy, kept in each replica's memory, are read again as soon as another replica
announces that they changed (Redis wake-ups), and within a few seconds when no wake-up can be
heard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from bot import people_cache
from bot.clock import SimClock
from bot.commands import service as dispatch
from bot.runtime import app as app_module
from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from bot.runtime.hooks import PEOPLE, POLICY
from storage.tables import Person
from tests.conftest import REDIS_URL, need_server

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SLACK_IDS = {"alex": "UALEX", "dana": "UDANA", "bo": "UBO", "sam": "USAM"}


def slack(handle: str) -> dispatch.Origin:
    return dispatch.Origin("slack", SLACK_IDS[handle])


async def ask_dana(app: Ownit, case: str | None, words: str) -> dispatch.Reply:
    """Alex asks Dana, in `case`, `words` (a question and its deadline)."""
    return await dispatch.handle(app, f"/case ask {case} <@UDANA> {words}", slack("alex"))


async def _start(db_url: str, redis_url: str) -> Ownit:
    settings = load_settings(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        OWNIT_ORG_FILE=str(example_org_file()),
        OWNIT_TIMEZONE="Europe/London",
    )
    app = await Ownit.start(settings, simulated=True)
    assert isinstance(app.clock, SimClock)
    app.clock.start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    await app.clock.now()
    return app


@pytest.fixture
async def replicas(
    pg_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Ownit, Ownit]]:
    """Replica A, where the changes are made, and B, which takes the commands (its wake-up
    listener subscribed, when Redis can be reached)."""
    redis_url = request.param
    if redis_url == REDIS_URL:
        need_server("Redis", "127.0.0.1", 6379)
    a = await _start(pg_url, redis_url)
    async with a.db.session() as s:  # as Slack links people on first sight
        for person in (await s.exec(select(Person))).all():
            if person.handle in SLACK_IDS:
                person.slack_id = SLACK_IDS[person.handle]
                s.add(person)
    await a.hooks.said()  # out before B listens: B's first wake-up is a test's own change
    b = await _start(pg_url, redis_url)
    subscribed = await heard(b, PEOPLE)  # on subscribing, B forgets all it may have missed
    # B's wake-ups as `run_background` starts them, without its other loops (they read people
    # too, which would blur what the commands read)
    b.background.start("wake", lambda stop: b.shared.listen(stop, b.hooks.woken))
    try:
        if redis_url == REDIS_URL:  # a reachable Redis: wait until B hears it
            await subscribed()
        yield a, b
    finally:
        await b.close()
        await a.close()


REDIS = pytest.param(REDIS_URL, id="redis")


async def heard(app: Ownit, topic: str) -> Callable[[], Any]:
    """An awaitable for the next wake-up of `app` that says `topic` changed."""
    told = asyncio.Event()
    app.hooks.forgets.setdefault(topic, []).append(told.set)
    return lambda: asyncio.wait_for(told.wait(), timeout=10)


def person_reads(app: Ownit) -> list[str]:
    """The statements that read the person table, from now on."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM person" in statement:
            seen.append(statement)

    event.listen(app.db.engine.sync_engine, "before_cursor_execute", note)
    return seen


@pytest.mark.parametrize("replicas", [REDIS], indirect=True)
async def test_a_colleague_away_on_one_replica_is_routed_to_their_backup_by_the_next(
    replicas: tuple[Ownit, Ownit],
) -> None:
    a, b = replicas
    opened = await dispatch.handle(b, "/case open Acme: refund", slack("alex"))
    first = await ask_dana(b, opened.case, "status? by 16:00")
    assert "asked of @dana" in first.plain() and "away" not in first.plain()
    reads = person_reads(b)
    again = await ask_dana(b, opened.case, "invoice? by 16:00")
    assert again.ok and "away" not in again.plain()
    assert reads == []  # the author and the colleague were kept from the first ask

    told = await heard(b, PEOPLE)
    away = await dispatch.handle(a, "/case away until wed 09:00", slack("dana"))
    assert "Requests to you go to @bo" in away.plain()
    await told()  # announced by A, heard by B: no waiting for anything to expire
    routed = await ask_dana(b, opened.case, "refund? by 16:00")
    assert "Dana Billing is away; their backup Bo Billing has it" in routed.plain()


@pytest.mark.parametrize("replicas", [REDIS], indirect=True)
async def test_people_named_by_handle_are_kept_until_people_change(
    replicas: tuple[Ownit, Ownit],
) -> None:
    """The console's author and a colleague named by handle (as typed in the console or in
    Teams) are found without reading them again, and a change on another replica is seen."""
    a, b = replicas
    alex = dispatch.Origin("console", "alex")
    opened = await dispatch.handle(b, "/case open Acme: refund", alex)
    first = await dispatch.handle(b, f"/case ask {opened.case} @dana status? by 16:00", alex)
    assert "asked of @dana" in first.plain() and "away" not in first.plain()
    reads = person_reads(b)
    again = await dispatch.handle(b, f"/case ask {opened.case} @dana invoice? by 16:00", alex)
    assert again.ok and "away" not in again.plain()
    assert reads == []

    told = await heard(b, PEOPLE)
    away = await dispatch.handle(a, "/case away until wed 09:00", slack("dana"))
    assert "Requests to you go to @bo" in away.plain()
    await told()
    routed = await dispatch.handle(b, f"/case ask {opened.case} @dana refund? by 16:00", alex)
    assert "Dana Billing is away; their backup Bo Billing has it" in routed.plain()


@pytest.mark.parametrize("replicas", [REDIS], indirect=True)
async def test_people_by_id_are_kept_until_people_change(replicas: tuple[Ownit, Ownit]) -> None:
    a, b = replicas
    async with b.db.reader() as s:
        ids = list(
            (await s.exec(select(Person.id).where(col(Person.handle).in_(["dana", "bo"])))).all()
        )
        found = await people_cache.by_ids(s, [*ids, None, 999_999])
        assert sorted(p.handle for p in found.values()) == ["bo", "dana"]
    reads = person_reads(b)
    async with b.db.reader() as s:
        found = await people_cache.by_ids(s, ids)
        assert sorted(p.handle for p in found.values()) == ["bo", "dana"]
    assert reads == []
    told = await heard(b, PEOPLE)
    changed = await dispatch.handle(
        a, "/case admin calendar <@UDANA> America/New_York", slack("sam")
    )
    assert changed.ok, changed.plain()
    await told()
    async with b.db.reader() as s:
        dana = await people_cache.by_id(s, next(i for i, p in found.items() if p.handle == "dana"))
        assert dana is not None and dana.tz == "America/New_York"
        # what a card shows: one copy per person kept, in no session, made anew after a change
        shown = await people_cache.to_show(s, ids)
        again = await people_cache.to_show(s, ids)
    dana_id = next(i for i, p in found.items() if p.handle == "dana")
    assert shown[dana_id] is again[dana_id] and shown[dana_id].tz == "America/New_York"
    assert shown[dana_id] not in s
    told = await heard(b, PEOPLE)
    back = await dispatch.handle(a, "/case admin calendar <@UDANA> Europe/London", slack("sam"))
    assert back.ok, back.plain()
    await told()
    async with b.db.reader() as s:
        assert (await people_cache.to_show(s, ids))[dana_id].tz == "Europe/London"


@pytest.mark.parametrize("replicas", [REDIS], indirect=True)
async def test_a_policy_change_on_one_replica_applies_to_the_next_command_on_another(
    replicas: tuple[Ownit, Ownit],
) -> None:
    a, b = replicas
    opened = await dispatch.handle(b, "/case open Acme: refund promise 15:00", slack("alex"))
    before = await ask_dana(b, opened.case, "status? by 13:30")
    assert (
        "Heads up" not in before.plain()
    )  # 13:30 leaves 1h30 before the promise: the buffer is 1h
    told = await heard(b, POLICY)
    changed = await dispatch.handle(a, "/case admin policy buffer 2h", slack("sam"))
    assert "buffer=2h" in changed.plain()
    await told()
    after = await ask_dana(b, opened.case, "again? by 13:30")
    assert "Heads up" in after.plain()  # 1h30 < the new 2h buffer


@pytest.mark.parametrize("replicas", [REDIS], indirect=True)
async def test_a_replica_closing_straight_after_its_changes_still_tells_the_others(
    replicas: tuple[Ownit, Ownit],
) -> None:
    a, b = replicas
    opened = await dispatch.handle(b, "/case open Acme: refund promise 15:00", slack("alex"))
    await ask_dana(b, opened.case, "status? by 13:30")
    people, policy = await heard(b, PEOPLE), await heard(b, POLICY)
    await dispatch.handle(a, "/case away until wed 09:00", slack("dana"))
    await dispatch.handle(a, "/case admin policy buffer 2h", slack("sam"))
    await a.close()  # the second change is said with the next announcement, after A's last
    for left in list(a.hooks._pending):  # as the process's end cancels what is still running
        left.cancel()
    await people()
    await policy()
    seen = await ask_dana(b, opened.case, "again? by 13:30")
    assert "Dana Billing is away; their backup Bo Billing has it" in seen.plain()
    assert "Heads up" in seen.plain()


UNREACHABLE = pytest.param("redis://127.0.0.1:1/0", id="redis-unreachable")


@pytest.mark.parametrize("replicas", [UNREACHABLE], indirect=True)
async def test_without_wake_ups_a_change_is_seen_once_the_short_expiry_passes(
    replicas: tuple[Ownit, Ownit], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = replicas
    monkeypatch.setattr(people_cache, "FRESH", 3600.0)
    monkeypatch.setattr(app_module, "RULES_FRESH", 3600.0)
    opened = await dispatch.handle(b, "/case open Acme: refund promise 15:00", slack("alex"))
    await ask_dana(b, opened.case, "status? by 13:30")
    await dispatch.handle(a, "/case away until wed 09:00", slack("dana"))
    await dispatch.handle(a, "/case admin policy buffer 2h", slack("sam"))
    kept = await ask_dana(b, opened.case, "again? by 13:30")
    assert (
        "away" not in kept.plain() and "Heads up" not in kept.plain()
    )  # B heard of neither change
    monkeypatch.setattr(people_cache, "FRESH", 0.0)  # as if `FRESH` seconds had passed
    monkeypatch.setattr(app_module, "RULES_FRESH", 0.0)
    seen = await ask_dana(b, opened.case, "now? by 13:30")
    assert "Dana Billing is away; their backup Bo Billing has it" in seen.plain()
    assert "Heads up" in seen.plain()
