"""The escalation ladder on the simulated clock: each step once, to the right people, in order."""

from __future__ import annotations

from sqlmodel import col, func, select

from storage.tables import Event, Timer
from tests.conftest import ConsoleBot


async def _events(bot: ConsoleBot, kind: str) -> int:
    async with bot.app.db.reader() as s:
        return (
            await s.exec(select(func.count()).select_from(Event).where(Event.kind == kind))
        ).one()


async def test_full_ladder_fires_each_step_once(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund missing promise tomorrow 17:00")
    # window Mon 09:00 → Tue 12:00 in Dana's calendar = 8h + 3h = 11 business hours
    await bot.say("/case ask C-1 @dana where is the refund? by tomorrow 12:00")
    out = await bot.say("/clock +2h")  # 11:00: before 25 % (11:45)
    assert "Reminder" not in out
    out = await bot.say("/clock +1h")  # 12:00: nudge due at 11:45
    assert "Reminder: @alex is waiting on R-1" in bot.to("dana", out)
    out = await bot.say("/clock +1h")
    assert "Reminder" not in out  # the nudge fires once
    out = await bot.say("/clock tomorrow 09:00")  # 75 % = 8h15m → Tue 09:15
    assert "at risk" not in out
    out = await bot.say("/clock 09:20")
    # Dana answering by 12:00 still leaves the 17:00 promise safe: the at-risk step is her
    # reminder alone; the owner hears nothing yet
    assert "R-1 is at risk" in bot.to("dana", out)
    assert bot.to("alex", out) == ""
    out = await bot.say("/clock 12:01")
    assert "Escalation: @dana has not answered R-1" in bot.to("morgan", out)
    assert "I escalated to @morgan" in bot.to("alex", out)
    out = await bot.say("/clock 16:01")  # promise 17:00 minus the 1h buffer
    assert "Promise at risk on C-1" in bot.to("alex", out)
    assert "Promise at risk on C-1" in bot.to("sam", out)  # the owner's manager
    out = await bot.say("/clock +1d")
    assert "→" not in out
    for step in ("nudge", "at_risk", "overdue", "promise_at_risk"):
        assert await _events(bot, f"step:{step}") == 1


async def test_acknowledged_request_is_not_nudged_and_answer_stops_ladder(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: question")
    await bot.say("/case ask C-1 @dana quick one by 13:00")
    await bot.say("/case ack R-1", as_="dana")
    out = await bot.say("/clock 10:30")
    assert "Reminder" not in out
    await bot.say("/case answer R-1 done", as_="dana")
    out = await bot.say("/clock 14:00")
    assert "at risk" not in out and "Escalation" not in out
    async with bot.app.db.reader() as s:
        pending = (await s.exec(select(Timer).where(col(Timer.done).is_(False)))).all()
    assert pending == []


async def test_eta_past_deadline_makes_request_at_risk_at_once(bot: ConsoleBot) -> None:
    # the promise (tomorrow 11:30) cannot hold an answer due at 11:00 plus the hour to reply
    await bot.say("/case open Acme: question promise tomorrow 11:30")
    await bot.say("/case ask C-1 @dana check the ledger by 15:00")
    out = await bot.say("/case ack R-1 eta tomorrow 11:00", as_="dana")
    assert "after the deadline, so it is at risk now" in bot.to("alex", out)
    warning = bot.to("alex", out)
    assert "R-1 on C-1 (Acme) is at risk" in warning
    assert "The earliest you can still keep it: Tue 24 Nov 12:00 GMT." in warning
    assert "Hello Acme" in warning  # the drafted customer update
    assert await _events(bot, "step:at_risk") == 1


async def test_request_runs_on_the_colleagues_calendar(bot: ConsoleBot) -> None:
    # Kenji works in Tokyo: Mon 09:00 London is 18:00 in Tokyo, after his hours.
    await bot.say("/case open Acme: crash on login")
    out = await bot.say("/case ask C-1 @kenji why does login crash? by 4h")
    # 4 business hours in Tokyo from Tue 09:00 JST = Tue 13:00 JST = Tue 04:00 GMT
    assert "due Tue 24 Nov 04:00 GMT" in out
    assert "Tue 24 Nov 13:00 JST their time" in out


async def test_team_request_is_claimed_by_first_responder(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund")
    out = await bot.say("/case ask C-1 @billing who can refund? by 15:00")
    assert "for the Billing team" in bot.to("dana", out)
    assert "for the Billing team" in bot.to("bo", out)
    out = await bot.say("/case ack R-1", as_="bo")
    assert "@bo acknowledged R-1" in bot.to("alex", out)
    out = await bot.say("/case answer R-1 I can", as_="dana")
    assert "only they can answer it" in out
    out = await bot.say("/case answer R-1 refunded", as_="bo")
    assert "@bo answered R-1" in bot.to("alex", out)


async def test_promise_step_after_the_promise_says_it_is_broken(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: question promise 12:00")
    await bot.say("/case ask C-1 @dana check by 10:30")
    out = await bot.say("/clock 13:00")
    assert "Promise broken on C-1 (Acme)" in bot.to("alex", out)
    assert "Promise broken on C-1 (Acme)" in bot.to("sam", out)
    assert "Promise at risk" not in out
