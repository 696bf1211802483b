"""Issue 20, promise keeping: every deadline followed, alarms only when they matter.

The issue's five points, each a scenario: 1. an extended deadline (and a redirected request) has
its own ladder; 2. the escalated manager redirects, sets the deadline or takes it on; 3. promise
at risk with nothing internal waiting reminds the owner alone; 4. the at-risk warning's draft
names the honest new time, and moving the promise to it keeps it (more in
tests/test_promise_new_time.py); 5. an ETA inside the deadline holds the at-risk warning, and
at that step the owner is warned only when the promise is threatened (the colleague always
reminded)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, func, select, update

from storage.states import RequestStatus
from storage.tables import Event, Person, Request, Timer
from tests.conftest import ConsoleBot


async def _events(bot: ConsoleBot, kind: str) -> int:
    async with bot.app.db.reader() as s:
        return (
            await s.exec(select(func.count()).select_from(Event).where(Event.kind == kind))
        ).one()


async def _pending_steps(bot: ConsoleBot) -> list[str]:
    async with bot.app.db.reader() as s:
        found = await s.exec(select(Timer).where(col(Timer.done).is_(False)))
        return sorted(str(t.step) for t in found.all() if t.request_id is not None)


async def test_an_extended_deadline_has_its_own_ladder(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund missing promise fri 17:00")
    await bot.say("/case ask C-1 @dana where is the refund? by tomorrow 12:00")
    await bot.say("/clock tomorrow 12:01")  # nudge, at risk and overdue have fired
    assert await _events(bot, "step:overdue") == 1
    assert await _pending_steps(bot) == []
    await bot.say("/case more-time R-1 wed 12:00 waiting on the bank", as_="dana")
    await bot.say("/case accept R-1", as_="alex")
    assert "overdue" in await _pending_steps(bot)  # the new deadline is followed
    out = await bot.say("/clock wed 11:00")
    assert "Escalation" not in out
    out = await bot.say("/clock wed 12:01")
    assert "Escalation: @dana has not answered R-1" in bot.to("morgan", out)
    assert await _events(bot, "step:overdue") == 2
    out = await bot.say("/clock +1d")
    assert "Escalation" not in out  # once for the new deadline
    assert await _events(bot, "step:overdue") == 2


async def test_promise_at_risk_with_nothing_internal_waiting_reminds_the_owner_alone(
    bot: ConsoleBot,
) -> None:
    await bot.say("/case open Acme: question promise 12:00")
    await bot.say("/case ask C-1 @dana check by 10:30")
    await bot.say("/case answer R-1 checked", as_="dana")
    out = await bot.say("/clock 11:30")
    assert "Promise at risk on C-1" in bot.to("alex", out)
    assert "Promise at risk" not in bot.to("sam", out)


async def _escalate(bot: ConsoleBot) -> str:
    await bot.say("/case open Acme: refund missing promise fri 17:00")
    await bot.say("/case ask C-1 @dana where is the refund? by 12:00")
    out = await bot.say("/clock 12:01")
    assert "Escalation: @dana has not answered R-1" in bot.to("morgan", out)
    return out


async def test_the_escalated_manager_redirects_and_both_are_told(bot: ConsoleBot) -> None:
    await _escalate(bot)
    out = await bot.say("/case redirect R-1 @bo Dana is on the audit", as_="morgan")
    assert "R-1 handed on to Bo" in out or "handed on to" in bot.to("morgan", out)
    assert "handed you R-1" in bot.to("bo", out)
    assert "@morgan handed R-1 on to" in bot.to("alex", out)
    assert "no longer waiting on you" in bot.to("dana", out)


async def test_the_escalated_manager_sets_the_deadline_and_both_are_told(bot: ConsoleBot) -> None:
    await _escalate(bot)
    out = await bot.say("/case deadline R-1 tomorrow 12:00", as_="morgan")
    assert "R-1 is now due" in bot.to("morgan", out)
    assert "moved the deadline of R-1" in bot.to("alex", out)
    assert "R-1" in bot.to("dana", out)
    out = await bot.say("/clock tomorrow 12:01")
    assert "Escalation: @dana has not answered R-1" in bot.to("morgan", out)


async def test_the_owners_manager_redirects_once_escalated(bot: ConsoleBot) -> None:
    await _escalate(bot)
    out = await bot.say("/case redirect R-1 @bo Dana is out", as_="sam")
    assert "handed you R-1" in bot.to("bo", out)


async def test_before_escalation_only_the_asked_redirect(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund missing promise fri 17:00")
    await bot.say("/case ask C-1 @dana where is the refund? by 12:00")
    out = await bot.say("/case redirect R-1 @bo he knows", as_="sam")
    assert "only they can redirect it" in out


async def test_the_escalated_manager_takes_it_on_and_has_buttons(bot: ConsoleBot) -> None:
    out = await _escalate(bot)
    escalation = bot.to("morgan", out)
    assert "[Redirect: /case redirect R-1 <@person or team> <reason>]" in escalation
    # as long again as Dana was first given (3 business hours), from now: Mon 15:01
    assert "[Move the deadline to Mon 23 Nov 15:01 GMT: /case deadline R-1 2026-11-23T15:01" in (
        escalation
    )
    out = await bot.say("/case redirect R-1 @morgan I will do it myself", as_="morgan")
    assert "@morgan handed R-1 on to Morgan" in bot.to("alex", out)
    assert "no longer waiting on you" in bot.to("dana", out)
    out = await bot.say("/case answer R-1 refunded", as_="morgan")
    assert "answered R-1" in bot.to("alex", out)
    out = await bot.say("/case redirect R-1 @dana back to you", as_="dana")
    assert "handed on" not in out


async def test_an_eta_inside_the_deadline_holds_the_at_risk_warning(bot: ConsoleBot) -> None:
    # a tight promise: kept if Dana answers by her ETA (plus the hour to reply), not by her deadline
    await bot.say("/case open Acme: refund missing promise tomorrow 12:30")
    await bot.say("/case ask C-1 @dana where is the refund? by tomorrow 12:00")
    await bot.say("/case ack R-1 eta tomorrow 11:00", as_="dana")
    out = await bot.say("/clock tomorrow 09:20")  # at risk was due at 09:15
    assert "at risk" not in out
    out = await bot.say("/clock 11:01")  # the ETA passed without an answer
    assert "R-1 on C-1 (Acme) is at risk" in bot.to("alex", out)
    assert "R-1 is at risk" in bot.to("dana", out)
    assert await _events(bot, "step:at_risk") == 1


async def test_an_eta_does_not_hold_the_warning_when_the_persons_etas_slip(
    bot: ConsoleBot,
) -> None:
    # a tight promise: her ETA plus the hour to reply already runs past it
    await bot.say("/case open Acme: refund missing promise tomorrow 11:30")
    for n in range(5):
        await bot.say(f"/case ask C-1 @dana old question {n}? by fri 12:00")
    async with bot.app.db.session() as s:
        dana = (await s.exec(select(Person).where(Person.handle == "dana"))).one()
        await s.exec(
            update(Request).values(
                status=RequestStatus.ANSWERED,
                eta=datetime(2026, 11, 23, 10, tzinfo=UTC),
                answered_at=datetime(2026, 11, 23, 11, tzinfo=UTC),  # an hour past each ETA
                answered_by_id=dana.id,
            )
        )
        await s.commit()
    await bot.say("/case ask C-1 @dana where is the refund? by tomorrow 12:00")
    await bot.say("/case ack R-6 eta tomorrow 11:00", as_="dana")
    out = await bot.say("/clock tomorrow 09:20")  # at risk as planned: her ETAs slip
    assert "R-6 on C-1 (Acme) is at risk" in bot.to("alex", out)
    assert "R-6 is at risk" in bot.to("dana", out)


async def test_the_at_risk_step_warns_the_owner_only_when_the_promise_is_threatened(
    bot: ConsoleBot,
) -> None:
    # the same request on two cases: one promised for Friday, one for tomorrow 12:30
    await bot.say("/case open Acme: refund missing promise fri 17:00")
    await bot.say("/case ask C-1 @dana where is the refund? by tomorrow 12:00")
    await bot.say("/case open Acme: refund missing promise tomorrow 12:30")
    await bot.say("/case ask C-2 @dana where is the refund? by tomorrow 12:00")
    out = await bot.say("/clock tomorrow 09:20")  # both at-risk steps were due at 09:15
    # Dana is reminded of both requests
    assert "R-1 is at risk" in bot.to("dana", out)
    assert "R-2 is at risk" in bot.to("dana", out)
    warning = bot.to("alex", out)
    # the Friday promise is safe even if Dana answers at her deadline: the owner is not told
    assert "C-1" not in warning
    # tomorrow 12:30 is not: her deadline plus the hour to reply lands at 13:00
    assert "R-2 on C-2 (Acme) is at risk" in warning
    assert "The earliest you can still keep it: Tue 24 Nov 13:00 GMT." in warning
    assert "You will hear from me again by Tue 24 Nov 13:00 GMT." in warning  # the draft
    assert await _events(bot, "step:at_risk") == 2  # both steps are on the timeline


async def test_a_redirect_after_the_escalation_gives_the_new_person_a_ladder(
    bot: ConsoleBot,
) -> None:
    await _escalate(bot)  # nudge, at risk and overdue have fired for Dana
    out = await bot.say("/case redirect R-1 @bo Dana is on the audit", as_="morgan")
    # the deadline had passed: Bo gets as long as Dana was first given (3 business hours)
    assert "It was already overdue, so Bo Billing has until Mon 23 Nov 15:01 GMT" in out
    assert "due Mon 23 Nov 15:01 GMT" in bot.to("bo", out)
    assert "has until Mon 23 Nov 15:01 GMT" in bot.to("alex", out)
    assert await _pending_steps(bot) == ["at_risk", "nudge", "overdue"]
    out = await bot.say("/clock 12:50")
    assert "Reminder: @alex is waiting on R-1" in bot.to("bo", out)
    out = await bot.say("/clock 15:02")
    assert "Escalation: @bo has not answered R-1" in bot.to("morgan", out)
    assert await _pending_steps(bot) == []
    out = await bot.say("/clock +1d")
    assert "Escalation" not in out


async def test_a_redirect_before_the_deadline_runs_a_ladder_for_the_new_person(
    bot: ConsoleBot,
) -> None:
    await bot.say("/case open Acme: refund missing promise fri 17:00")
    await bot.say("/case ask C-1 @dana where is the refund? by 12:00")
    out = await bot.say("/clock 09:50")
    assert "Reminder" in bot.to("dana", out)
    await bot.say("/clock 10:00")
    out = await bot.say("/case redirect R-1 @bo he issued it", as_="dana")
    assert "overdue" not in out
    assert "due Mon 23 Nov 12:00 GMT" in bot.to("bo", out)  # the deadline carries over
    out = await bot.say("/clock 10:25")
    assert "Reminder" not in out
    out = await bot.say("/clock 10:30")  # a quarter of the two hours Bo had when he got it
    assert "Reminder: @alex is waiting on R-1" in bot.to("bo", out)
    out = await bot.say("/clock 12:01")
    assert "Escalation: @bo has not answered R-1" in bot.to("morgan", out)


async def test_the_warnings_draft_names_the_honest_new_time_and_moving_to_it_keeps_it(
    bot: ConsoleBot,
) -> None:
    await bot.say("/case open Acme: refund missing promise tomorrow 12:00")
    await bot.say("/case ask C-1 @dana where is the refund? by tomorrow 11:00")
    out = await bot.say("/case ack R-1 eta tomorrow 14:20", as_="dana")
    warning = bot.to("alex", out)
    assert "Tell the customer honestly now" in warning
    assert "You will hear from me again by Tue 24 Nov 16:00 GMT." in warning
    assert "again by Tue 24 Nov 12:00" not in warning  # not the old promise
    button = "/case promise C-1 2026-11-24T16:00:00+00:00"
    assert button in warning
    out = await bot.say(button, as_="alex")
    assert "counts as renegotiated" in out
    await bot.say("/clock tomorrow 14:15")
    await bot.say("/case answer R-1 refunded", as_="dana")
    out = await bot.say("/case resolve C-1 told them", as_="alex")
    assert "Promise kept." in out
    out = await bot.say("/case status C-1")
    assert "— kept · earlier promises: 1 renegotiated, 0 broken" in out
    assert "Alex Advisor updated the customer: the new promise, Tue 24 Nov 16:00 GMT" in out
