"""Delivery: each conversation at its own pace, without holding up anyone else's."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import select

from bot.messages import Message
from bot.notices import notify
from bot.runtime import outbox
from storage.tables import Outbox, Person
from tests.conftest import ConsoleBot
from tests.fakes.slack_api import until


class Recorder:
    """A channel under Slack's pacing (one message a second per conversation) that records."""

    name = "slack"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def reaches(self, person: Person) -> bool:
        return True

    async def send(self, person: Person, msg: Message, row: Outbox) -> None:
        self.sent.append((person.handle, msg.plain()))


async def test_a_paced_conversation_does_not_hold_up_others(bot: ConsoleBot) -> None:
    recorder = Recorder()
    bot.app.deliverer.channels.insert(0, recorder)
    async with bot.app.db.session() as s:
        people = {p.handle: p for p in (await s.exec(select(Person))).all()}
        now = datetime.now(UTC)
        for i in range(3):
            notify(s, to=people["dana"], at=now, msg=Message("x", (f"dana {i}",)))
        notify(s, to=people["bo"], at=now, msg=Message("x", ("bo 0",)))
    await bot.app.deliverer.drain()
    order = [text for _, text in recorder.sent]
    assert sorted(order) == ["bo 0", "dana 0", "dana 1", "dana 2"]
    assert [t for t in order if t.startswith("dana")] == ["dana 0", "dana 1", "dana 2"]
    assert order.index("bo 0") < order.index("dana 1")  # bo did not wait behind dana's pacing


async def test_many_paced_conversations_are_served_side_by_side(bot: ConsoleBot) -> None:
    """A backlog over more people than are sent to at once: each waits for its own turn only,
    so every person's first notice goes before anyone's second (which waits about a second)."""
    recorder = Recorder()
    bot.app.deliverer.channels.insert(0, recorder)
    people = [Person(handle=f"colleague{n}", name=f"Colleague {n}") for n in range(40)]
    async with bot.app.db.session() as s:
        s.add_all(people)
        await s.flush()
        now = datetime.now(UTC)
        for turn in range(2):
            for p in people:
                notify(s, to=p, at=now, msg=Message("x", (f"{p.handle} {turn}",)))
    assert await bot.app.deliverer.drain() == 80
    order = [text for _, text in recorder.sent]
    assert sorted(order[:40]) == sorted(f"{p.handle} 0" for p in people)
    for p in people:
        assert order.index(f"{p.handle} 0") < order.index(f"{p.handle} 1")


@pytest.mark.timing
async def test_a_stop_mid_drain_hands_back_what_was_not_sent(bot: ConsoleBot) -> None:
    """A replica told to stop while a conversation waits for its turn goes at once; the notices
    it had leased are sent by the next drain (another replica, or its restart), in order."""
    recorder = Recorder()
    deliverer = bot.app.deliverer
    deliverer.channels.insert(0, recorder)
    async with bot.app.db.session() as s:
        dana = (await s.exec(select(Person).where(Person.handle == "dana"))).one()
        for i in range(4):
            notify(s, to=dana, at=datetime.now(UTC), msg=Message("x", (f"dana {i}",)))
    # The pace is kept in one-second windows: begun just after a window opens, dana 0 goes at
    # once and dana 1 waits most of a second (begun just before one closes, it would not).
    await asyncio.sleep(math.ceil(time.time()) - time.time() + 0.02)
    draining = asyncio.create_task(deliverer.drain())

    async def first_sent() -> bool:
        return bool(recorder.sent)

    await until(first_sent, within=2)
    began = time.monotonic()
    deliverer.stop.set()  # dana 1 is waiting for its turn (one message a second)
    assert await asyncio.wait_for(draining, timeout=2) == 1
    assert time.monotonic() - began < 0.5
    async with bot.app.db.session() as s:
        left = (await s.exec(select(Outbox).where(Outbox.sent == False))).all()  # noqa: E712
    assert len(left) == 3 and all(r.claimed_until is None for r in left)

    deliverer.stop = asyncio.Event()  # started again
    assert await deliverer.drain() == 3
    assert [text for _, text in recorder.sent] == [f"dana {i}" for i in range(4)]


@pytest.mark.timing
async def test_a_running_deliverer_sends_what_its_process_wrote_without_leasing_it(
    bot: ConsoleBot,
) -> None:
    """The notices a change here writes are sent as soon as it is committed, with no lease
    statement: they were written leased to this process."""
    recorder = Recorder()
    deliverer = bot.app.deliverer
    deliverer.channels.insert(0, recorder)
    leases: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE outbox SET claimed_until"):
            leases.append(statement)

    engine = bot.app.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    stop = asyncio.Event()
    running = asyncio.create_task(deliverer.run(stop))
    try:
        await until(lambda: _true(bool(leases)), within=2)  # the lease of its start
        async with bot.app.db.session() as s:
            dana = (await s.exec(select(Person).where(Person.handle == "dana"))).one()
            notify(s, to=dana, at=datetime.now(UTC), msg=Message("x", ("dana 0",)))
        await until(lambda: _true(bool(recorder.sent)), within=0.5)
        assert recorder.sent == [("dana", "dana 0")]
        assert len(leases) == 1
    finally:
        stop.set()
        deliverer.wake.set()
        await running
        event.remove(engine, "before_cursor_execute", seen)
    async with bot.app.db.reader() as s:
        row = (await s.exec(select(Outbox))).one()
    assert row.sent and row.status == "sent"


async def test_a_notice_leased_to_a_process_that_died_is_sent_once_its_lease_runs_out(
    bot: ConsoleBot,
) -> None:
    recorder = Recorder()
    deliverer = bot.app.deliverer
    deliverer.channels.insert(0, recorder)
    outbox.hand_over(bot.app.db, lambda _rows: None)  # it dies before sending what it wrote
    try:
        async with bot.app.db.session() as s:
            dana = (await s.exec(select(Person).where(Person.handle == "dana"))).one()
            notify(s, to=dana, at=datetime.now(UTC), msg=Message("x", ("dana 0",)))
    finally:
        outbox.hand_over(bot.app.db, None)
    assert await deliverer.drain() == 0  # leased to the dead process
    async with bot.app.db.session() as s:  # its lease runs out
        row = (await s.exec(select(Outbox))).one()
        assert row.claimed_until is not None
        row.claimed_until = datetime.now(UTC) - timedelta(seconds=1)
        s.add(row)
    assert await deliverer.drain() == 1
    assert recorder.sent == [("dana", "dana 0")]


async def _true(value: bool) -> bool:
    return value
