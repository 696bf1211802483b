"""Issue 20, the honest new time: when a promise is threatened, the earliest time it can still be
kept, computed in code from the open requests, named in the warnings and the draft, and offered
on a "Move the promise to …" button."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import col, select, update

from bot.business_time import Calendar
from bot.clock import SimClock
from bot.new_time import round_up
from storage.states import RequestStatus
from storage.tables import Case, Event, Person, Request
from tests.conftest import ConsoleBot
from tests.fakes.slack_api import Workspace, buttons, readable, text_of, uid

MOVE = "[Move the promise to Tue 24 Nov 16:00 GMT: /case promise C-1 2026-11-24T16:00:00+00:00]"


async def _eta_past_the_promise(bot: ConsoleBot) -> str:
    await bot.say("/case open Acme: refund missing promise tomorrow 12:00")
    await bot.say("/case ask C-1 @dana where is the refund? by tomorrow 11:00")
    return await bot.say("/case ack R-1 eta tomorrow 14:20", as_="dana")


async def test_the_at_risk_warning_names_the_honest_new_time_and_its_draft_uses_it(
    bot: ConsoleBot,
) -> None:
    out = await _eta_past_the_promise(bot)
    warning = bot.to("alex", out)
    # the ETA 14:20, plus the owner's hour to reply, rounded up to the next full hour
    assert "Your promise: Tue 24 Nov 12:00 GMT." in warning
    assert "The earliest you can still keep it: Tue 24 Nov 16:00 GMT." in warning
    assert "You will hear from me again by Tue 24 Nov 16:00 GMT." in warning  # the draft
    assert "hear from me again by Tue 24 Nov 12:00" not in warning
    assert MOVE in warning
    out = await bot.say("/case update C-1", as_="alex")
    assert "You will hear from me again by Tue 24 Nov 16:00 GMT." in out


async def test_the_button_moves_the_promise_and_its_step(bot: ConsoleBot) -> None:
    await _eta_past_the_promise(bot)
    out = await bot.say("/case promise C-1 2026-11-24T16:00:00+00:00", as_="alex")
    assert "Promise to Acme on C-1: an answer by Tue 24 Nov 16:00 GMT." in out
    out = await bot.say("/clock tomorrow 11:05")
    assert "Promise at risk" not in out  # the old promise's step is gone
    out = await bot.say("/case answer R-1 refunded", as_="dana")
    out = await bot.say("/clock 15:05")
    assert "Promise at risk on C-1" in bot.to("alex", out)  # the new one's, reminding alone
    assert "Promise" not in bot.to("sam", out)


async def test_a_moved_promise_offered_by_a_button_must_still_be_ahead(bot: ConsoleBot) -> None:
    await _eta_past_the_promise(bot)
    await bot.say("/clock tomorrow 16:30")
    out = await bot.say("/case promise C-1 2026-11-24T16:00:00+00:00", as_="alex")
    assert "That time (Tue 24 Nov 16:00" in out and "has already passed." in out
    out = await bot.say("/case status C-1")
    assert "Promise: Tue 24 Nov 12:00 GMT" in out


async def test_a_promise_that_can_still_be_kept_offers_no_new_time(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund missing promise tomorrow 12:00")
    await bot.say("/case ask C-1 @dana where is the refund? by tomorrow 11:00")
    out = await bot.say("/clock tomorrow 09:00")  # at risk at three quarters of the window
    # Dana answering by 11:00, plus the hour to reply, still keeps the 12:00 promise: the
    # at-risk step is her reminder alone, and the owner is not told
    assert "R-1 is at risk" in bot.to("dana", out)
    assert bot.to("alex", out) == ""
    draft = await bot.say("/case update C-1")  # the draft the owner asks for still holds to it
    assert "earliest" not in draft and "Move the promise" not in draft
    assert "You will hear from me again by Tue 24 Nov 12:00 GMT." in draft


async def _late_record(bot: ConsoleBot, *, late: timedelta) -> None:
    """Five earlier answers of Dana's, each `late` past its deadline."""
    await bot.say("/case open Oldco: history")
    for n in range(5):
        await bot.say(f"/case ask C-1 @dana old question {n}? by fri 12:00")
    async with bot.app.db.session() as s:
        dana = (await s.exec(select(Person).where(Person.handle == "dana"))).one()
        deadline = datetime(2026, 11, 23, 10, tzinfo=UTC)
        await s.exec(
            update(Request).values(
                status=RequestStatus.ANSWERED,
                deadline=deadline,
                answered_at=deadline + late,
                answered_by_id=dana.id,
            )
        )
        await s.commit()


async def test_without_an_eta_the_deadline_is_pushed_by_the_persons_slip(bot: ConsoleBot) -> None:
    await _late_record(bot, late=timedelta(hours=2))
    await bot.say("/case open Acme: refund missing promise tomorrow 11:00")
    await bot.say("/case ask C-2 @dana where is the refund? by tomorrow 10:00")
    out = await bot.say("/clock 16:00")  # at risk at 15:45
    warning = bot.to("alex", out)
    assert "R-6 on C-2 (Acme) is at risk" in warning
    # due 10:00, her answers run 2 business hours late, then the owner's hour: 13:00
    assert "The earliest you can still keep it: Tue 24 Nov 13:00 GMT." in warning
    assert "You will hear from me again by Tue 24 Nov 13:00 GMT." in warning


async def test_a_punctual_record_leaves_the_promise_standing(bot: ConsoleBot) -> None:
    await _late_record(bot, late=timedelta(0))
    await bot.say("/case open Acme: refund missing promise tomorrow 11:00")
    await bot.say("/case ask C-2 @dana where is the refund? by tomorrow 10:00")
    out = await bot.say("/clock 16:00")
    # her punctual record expects the answer by 10:00: the promise stands, so the at-risk step
    # reminds Dana and leaves the owner in peace
    assert "R-6 is at risk" in bot.to("dana", out)
    assert "is at risk" not in bot.to("alex", out)
    draft = await bot.say("/case update C-2")
    assert "earliest" not in draft
    assert "You will hear from me again by Tue 24 Nov 11:00 GMT." in draft


async def test_a_broken_promise_names_the_earliest_honest_time(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund missing promise 12:00")
    await bot.say("/case ask C-1 @dana where is the refund? by 10:30")
    out = await bot.say("/clock 16:40")  # everything fell due at once, the promise passed
    told = bot.to("alex", out)
    assert "Promise broken on C-1 (Acme)" in told
    # the request is overdue: from now, plus the hour to reply, runs past today's 17:00 close
    assert "The earliest you can honestly promise now: Tue 24 Nov 10:00 GMT." in told
    assert "[Move the promise to Tue 24 Nov 10:00 GMT: /case promise C-1 2026-11-24T10" in told


async def test_the_time_is_in_the_owners_business_hours(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund missing promise tomorrow 12:00")
    await bot.say("/case ask C-1 @dana where is the refund? by tomorrow 11:00")
    out = await bot.say("/case ack R-1 eta tomorrow 16:30", as_="dana")
    # the hour to reply runs over Alex's 17:00 close: Wed 09:30, rounded up to 10:00
    assert "The earliest you can still keep it: Wed 25 Nov 10:00 GMT." in bot.to("alex", out)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    st.sampled_from(["Europe/London", "Asia/Kolkata", "America/St_Johns"]),
    st.sampled_from(["09:00-17:00", "08:30-17:30"]),
)
def test_rounding_up_lands_on_a_time_a_person_writes(at: datetime, tz: str, hours: str) -> None:
    start, end = Calendar.parse_hours(hours)
    cal = Calendar(tz=tz, start=start, end=end)
    within = cal.add(at, timedelta(0))  # a time in business hours, as the computation has
    up = round_up(within, cal)
    local = up.astimezone(cal.zone)
    assert up >= within
    assert up - within < timedelta(hours=1)
    assert local.minute == 0 or local.time() == end  # a full hour, or the day's close
    assert cal.is_open(up) or local.time() == end


async def test_the_move_button_through_slack(ws: Workspace) -> None:
    drive, fake = ws.drive, ws.fake
    await drive.command("alex", "open Acme: refund missing promise tomorrow 12:00")
    await drive.command("alex", f"ask C-1 <@{uid('dana')}|dana> Refund? by tomorrow 11:00")
    await fake.wait_for("chat.postMessage", lambda c: "R-1" in text_of(c), channel="DUDANA")
    await drive.command("dana", "ack R-1 eta tomorrow 14:20")
    warning = (
        await fake.wait_for(
            "chat.postMessage",
            lambda c: "is at risk" in text_of(c) and "earliest" in text_of(c),
            channel="DUALEX",
        )
    )[0]
    assert "Tue 24 Nov 16:00 GMT" in readable(text_of(warning))
    move = buttons(warning)["ownit_promise"]
    assert move["text"]["text"] == "Move the promise to Tue 24 Nov 16:00 GMT"
    r = await drive.click("alex", move, warning)
    assert r.status == 200
    await fake.wait_for("response_url", lambda c: "an answer by Tue 24 Nov 16:00" in text_of(c))
    async with ws.app.db.reader() as s:
        case = await s.get(Case, 1)
        moved = (
            await s.exec(select(Event).where(Event.kind == "promised").order_by(col(Event.id)))
        ).all()[-1]
    assert case is not None and case.promise_at == datetime(2026, 11, 24, 16, tzinfo=UTC)
    assert case.promise_renegotiations == 1  # moved before it passed: the customer was told
    assert moved.data["offered"] is True and moved.data["previous_outcome"] == "renegotiated"
    assert isinstance(ws.app.clock, SimClock)


def test_the_teams_button_carries_the_instant_not_words() -> None:
    from bot.commands import grammar as c
    from handlers.teams import buttons as teams_buttons

    at = datetime(2026, 11, 24, 16, tzinfo=UTC)
    data = {"ownit": "promise", "key": "C-1", "value": at.isoformat()}
    assert teams_buttons.command_for(data) == c.Promise("C-1", None, None, at=at)


async def test_a_models_draft_must_name_the_honest_new_time(
    sqlite_url: str, fake_openai: Any
) -> None:
    from tests.test_assist_updates import body, console

    async with console(sqlite_url, **fake_openai.env(OWNIT_AI_TIMEOUT="3")) as bot:
        await _eta_past_the_promise(bot)
        old = "You will hear from me again by Tue 24 Nov 12:00 GMT."
        fake_openai.answer({"message": f"Hello [CUSTOMER_1], it takes longer. {old} Alex"})
        out = body(await bot.say("/case update C-1", as_="alex"))
        assert "it takes longer" not in out  # the old promise: the template instead
        assert "You will hear from me again by Tue 24 Nov 16:00 GMT." in out
        assert any("Tue 24 Nov 16:00 GMT" in r.content("user") for r in fake_openai.requests)
        new = "You will hear from me again by Tue 24 Nov 16:00 GMT."
        fake_openai.answer({"message": f"Hello [CUSTOMER_1], it takes longer. {new} Alex"})
        out = body(await bot.say("/case update C-1"))
        assert f"it takes longer. {new}" in out


async def test_the_move_button_through_teams(sqlite_url: str) -> None:
    from tests.teams_support import ALEX, DANA, personal_conversation, teams_world

    async with teams_world(sqlite_url) as w:
        for member in (ALEX, DANA):
            await w.post(w.install(member))
        await w.post(w.personal(ALEX, "case open Acme: refund missing promise tomorrow 12:00"))
        await w.post(w.personal(ALEX, "case ask C-1 @dana where is the refund? by tomorrow 11:00"))
        await w.settle()
        await w.post(w.personal(DANA, "case ack R-1 eta tomorrow 14:20"))
        await w.settle()
        warning = await w.fake.wait_for("earliest", personal_conversation(ALEX))
        actions = {a["title"]: a for a in warning["attachments"][0]["content"]["actions"]}
        move = actions["Move the promise to Tue 24 Nov 16:00 GMT"]
        assert move["data"] == {
            "ownit": "promise",
            "key": "C-1",
            "value": "2026-11-24T16:00:00+00:00",
        }
        status, _ = await w.post(w.invoke(ALEX, move["data"]))
        assert status == 200
        await w.settle()
        async with w.app.db.reader() as s:
            case = await s.get(Case, 1)
        assert case is not None and case.promise_at == datetime(2026, 11, 24, 16, tzinfo=UTC)
        assert case.promise_renegotiations == 1
