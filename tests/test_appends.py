"""Appended rows (timeline lines, notices, ladder steps, delivery keys) written together.

They wait on the session and reach the database with the change: a query later in the same
transaction sees them, a rollback (of the transaction or of a savepoint) writes none of them, and
a delivery key already there still fails the change and answers with the first reply.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder
from bot.clock import SimClock
from bot.commands import service as dispatch
from bot.messages import Message
from bot.notices import notify, record
from bot.runtime import outbox
from storage.appends import append, pending
from storage.db import earliest_due
from storage.states import Step, TimerOutcome
from storage.tables import Case, Delivery, Event, Outbox, Person, Request, Timer
from tests.conftest import ConsoleBot

ALEX = dispatch.Origin("console", "alex")
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def _notice(s: AsyncSession, to: Person, case: Case, text: str) -> None:
    notify(s, to=to, msg=Message("case_note", (text,), case=case.key), at=NOW, case=case)


async def _case(bot: ConsoleBot) -> tuple[Case, Person]:
    await dispatch.handle(bot.app, "/case open Acme: invoice wrong", ALEX)
    async with bot.app.db.reader() as s:
        case = await s.get(Case, 1)
        dana = (await s.exec(select(Person).where(Person.handle == "dana"))).one()
    assert case is not None
    return case, dana


async def test_an_ask_writes_its_line_its_notice_its_steps_and_its_key(bot: ConsoleBot) -> None:
    await _case(bot)
    reply = await dispatch.handle(bot.app, "/case ask C-1 @dana is it paid? by 4h", ALEX, key="k1")
    assert reply.ok and reply.request == "R-1"
    async with bot.app.db.reader() as s:
        asked = (await s.exec(select(Event).where(Event.kind == "asked"))).all()
        notices = (await s.exec(select(Outbox).where(Outbox.kind == "request_new"))).all()
        steps = (await s.exec(select(Timer).where(Timer.request_id == 1))).all()
        key = await s.get(Delivery, "k1")
    assert [(e.case_id, e.request_id) for e in asked] == [(1, 1)]
    assert "is it paid?" in asked[0].text
    assert len(notices) == 1 and notices[0].payload["request"] == "R-1"
    assert sorted(t.step for t in steps) == ["at_risk", "nudge", "overdue"]
    assert all(not t.done for t in steps)
    assert key is not None and key.reply is not None


async def test_a_duplicate_delivery_answers_with_the_first_reply_and_changes_nothing(
    bot: ConsoleBot,
) -> None:
    await _case(bot)
    first = await dispatch.handle(bot.app, "/case ask C-1 @dana is it paid? by 4h", ALEX, key="k1")
    await bot.app.shared.forget("delivery:k1")  # as if another replica got the retry
    again = await dispatch.handle(bot.app, "/case ask C-1 @dana is it paid? by 4h", ALEX, key="k1")
    assert again.duplicate
    assert bot.app.metrics.deduplicated.labels("database")._value.get() == 1  # not the store's
    assert [m.segments for m in again.messages] == [m.segments for m in first.messages]
    async with bot.app.db.reader() as s:
        requests = (await s.exec(select(Request))).all()
        asked = (await s.exec(select(Event).where(Event.kind == "asked"))).all()
        steps = (await s.exec(select(Timer))).all()
    assert len(requests) == 1 and len(asked) == 1 and len(steps) == 3


async def test_a_query_later_in_the_transaction_sees_the_appended_rows(bot: ConsoleBot) -> None:
    case, dana = await _case(bot)
    async with bot.app.db.session() as s:
        record(s, case=case, kind="note", at=NOW, text="first")
        _notice(s, dana, case, "a word")
        assert pending(s)
        notes = (await s.exec(select(Event).where(Event.kind == "note"))).all()
        told = (await s.exec(select(Outbox).where(Outbox.person_id == dana.id))).all()
        assert not pending(s)
        assert [e.text for e in notes] == ["first"] and len(told) == 1
    async with bot.app.db.reader() as s:
        assert len((await s.exec(select(Event).where(Event.kind == "note"))).all()) == 1


async def test_a_rollback_writes_none_of_them(bot: ConsoleBot) -> None:
    case, dana = await _case(bot)
    with pytest.raises(RuntimeError):
        async with bot.app.db.session() as s:
            record(s, case=case, kind="note", at=NOW, text="undone")
            _notice(s, dana, case, "undone")
            raise RuntimeError("changed my mind")
    async with bot.app.db.session() as s:  # the same kind of session, a fresh transaction
        record(s, case=case, kind="note", at=NOW, text="kept")
    async with bot.app.db.reader() as s:
        notes = (await s.exec(select(Event).where(Event.kind == "note"))).all()
        told = (await s.exec(select(Outbox).where(Outbox.person_id == dana.id))).all()
    assert [e.text for e in notes] == ["kept"] and told == []


async def test_a_savepoint_rolled_back_drops_only_its_own_rows(bot: ConsoleBot) -> None:
    case, _ = await _case(bot)
    async with bot.app.db.session() as s:
        record(s, case=case, kind="note", at=NOW, text="before")
        with pytest.raises(RuntimeError):
            async with s.begin_nested():
                record(s, case=case, kind="note", at=NOW, text="inside")
                await s.exec(select(Event))  # both written, inside the savepoint
                raise RuntimeError("this step failed")
        async with s.begin_nested():
            record(s, case=case, kind="note", at=NOW, text="next")
    async with bot.app.db.reader() as s:
        notes = (
            await s.exec(select(Event).where(Event.kind == "note").order_by(col(Event.text)))
        ).all()
    assert [e.text for e in notes] == ["before", "next"]


async def test_rows_of_many_tables_and_many_rows_go_in_together(bot: ConsoleBot) -> None:
    case, dana = await _case(bot)
    async with bot.app.db.session() as s:
        for i in range(40):
            record(s, case=case, kind="note", at=NOW, text=f"line {i}")
            _notice(s, dana, case, f"notice {i}")
    async with bot.app.db.reader() as s:
        notes = (await s.exec(select(Event).where(Event.kind == "note"))).all()
        told = (await s.exec(select(Outbox).where(Outbox.person_id == dana.id))).all()
    assert sorted(e.text for e in notes) == sorted(f"line {i}" for i in range(40))
    assert sorted(o.payload["segments"][0] for o in told) == sorted(
        f"notice {i}" for i in range(40)
    )


async def test_a_statement_on_the_appended_table_sees_the_appended_rows(bot: ConsoleBot) -> None:
    """A step appended and then cancelled in the same change is cancelled, not left pending;
    a query on other tables in between does not lose it."""
    await _case(bot)
    await dispatch.handle(bot.app, "/case ask C-1 @dana is it paid? by 4h", ALEX)
    async with bot.app.db.session() as s:
        req = await s.get(Request, 1)
        assert req is not None
        append(s, Timer, key="R-1:extra", step=Step.NUDGE, case_id=1, request_id=1, due_at=NOW)
        assert await s.get(Case, 1) is not None  # about the case only
        await ladder.cancel_request_steps(s, req=req, outcome=TimerOutcome.CANCELLED)
    async with bot.app.db.reader() as s:
        steps = (await s.exec(select(Timer).where(Timer.request_id == 1))).all()
    assert len(steps) == 4
    assert {t.outcome for t in steps} == {TimerOutcome.CANCELLED}


async def test_an_appended_step_is_announced_to_the_scheduler(bot: ConsoleBot) -> None:
    """The scheduler is woken for the earliest step a change made, appended ones included."""
    await _case(bot)
    await dispatch.handle(bot.app, "/case ask C-1 @dana is it paid? by 4h", ALEX)
    async with bot.app.db.session() as s:
        append(s, Timer, key="R-1:later", step=Step.NUDGE, case_id=1, request_id=1, due_at=NOW)
        assert earliest_due(s) == NOW


async def test_a_failing_step_of_a_batch_leaves_no_rows_and_the_others_fire(
    bot: ConsoleBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler fires a failed batch again step by step, each in a savepoint: what the
    failing step appended goes with it, what the others appended (before and after) stays."""
    await _case(bot)
    await dispatch.handle(bot.app, "/case ask C-1 @dana is it paid? by 4h", ALEX)
    await dispatch.handle(bot.app, "/case ask C-1 @dana and the credit note? by 4h", ALEX)
    await dispatch.handle(bot.app, "/case ask C-1 @dana and the refund? by 4h", ALEX)
    fire = ladder.fire

    async def failing_for_r2(session: AsyncSession, *, timer: Timer, **kw: Any) -> TimerOutcome:
        if timer.request_id != 2:
            return await fire(session, timer=timer, **kw)
        case = await session.get(Case, timer.case_id)
        assert case is not None
        record(session, case=case, kind="note", at=NOW, text="half done")
        raise RuntimeError("this step cannot be fired")

    monkeypatch.setattr(ladder, "fire", failing_for_r2)
    clock = bot.app.clock
    assert isinstance(clock, SimClock)
    await clock.advance(timedelta(hours=1, minutes=50))
    await bot.app.settle()
    async with bot.app.db.reader() as s:
        nudged = (await s.exec(select(Event).where(Event.kind == "step:nudge"))).all()
        notes = (await s.exec(select(Event).where(Event.kind == "note"))).all()
        pending_r2 = (
            await s.exec(select(Timer).where(Timer.request_id == 2, col(Timer.done).is_(False)))
        ).all()
    assert sorted(e.request_id for e in nudged) == [1, 3]
    assert notes == []
    assert len(pending_r2) == 3  # the failed nudge is retried later


async def test_notices_written_here_are_handed_over_once_committed_with_their_ids(
    bot: ConsoleBot,
) -> None:
    """A process that delivers gets the notices it wrote, leased to it, with the ids they were
    given; none of a savepoint or a transaction rolled back."""
    case, dana = await _case(bot)
    async with bot.app.db.reader() as s:
        people = (await s.exec(select(Person).order_by(col(Person.id)))).all()
    handed: list[outbox.Notice] = []
    outbox.hand_over(bot.app.db, handed.extend)
    try:
        async with bot.app.db.session() as s:
            _notice(s, dana, case, "before")
            with pytest.raises(RuntimeError):
                async with s.begin_nested():
                    _notice(s, dana, case, "inside")
                    await s.exec(select(Outbox))  # both written, inside the savepoint
                    raise RuntimeError("this step failed")
            for person in people[:5]:
                _notice(s, person, case, f"for {person.handle}")
            assert handed == []  # not before the commit
        with pytest.raises(RuntimeError):
            async with bot.app.db.session() as s:
                _notice(s, dana, case, "undone")
                await s.exec(select(Outbox))
                raise RuntimeError("the change failed")
    finally:
        outbox.hand_over(bot.app.db, None)
    async with bot.app.db.reader() as s:
        rows = {row.id: row for row in (await s.exec(select(Outbox))).all()}
    texts = [Message.from_dict(n.payload).plain() for n in handed]
    assert texts == ["before", *(f"for {p.handle}" for p in people[:5])]
    assert len(rows) == 6
    for notice in handed:
        row = rows[notice.id]
        assert (row.person_id, row.payload, row.case_id) == (
            notice.person_id,
            notice.payload,
            notice.case_id,
        )
        assert row.claimed_until is not None and not row.sent  # leased to this process
        assert notice.home == case.platform
