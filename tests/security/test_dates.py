"""Dates mean what they say: a time that is over, impossible, or not read at all is never
turned into some other time without a word, on any day, through the console as a person uses it.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import func, select

from storage.tables import Case, Event, Outbox, Person, Request
from tests.conftest import ConsoleBot

SUNDAY_NOON = "2026-11-29 12:00"  # the weekend after the fixture's Monday
BOXING_DAY = "2026-12-26 12:00"  # a Saturday; Christmas (Friday) is a GB holiday


async def _written(bot: ConsoleBot) -> tuple[object, ...]:
    """Everything a refused command could have written: rows, and the dates it could set."""
    async with bot.app.db.reader() as s:
        counts = [
            (await s.exec(select(func.count()).select_from(t))).one()
            for t in (Case, Request, Event, Outbox)
        ]
        promises = (await s.exec(select(Case.promise_at))).all()
        asked = (await s.exec(select(Request.deadline, Request.pending_deadline))).all()
        away = (await s.exec(select(Person.away_until))).all()
    return (*counts, tuple(promises), tuple(asked), tuple(away))


async def _case_with_a_request(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund p2", as_="alex")
    out = await bot.say("/case ask C-1 @dana refund status? by 2026-12-04", as_="alex")
    assert "R-1 asked of @dana" in out


@pytest.mark.parametrize("when", [SUNDAY_NOON, BOXING_DAY])
@pytest.mark.parametrize(
    ("command", "as_"),
    [
        ("/case ask C-1 @bo is it paid? by yesterday", "alex"),
        ("/case ask C-1 @bo is it paid? by yesterday 10:00", "alex"),
        ("/case promise C-1 yesterday", "alex"),
        ("/case more-time R-1 yesterday the bank is slow", "dana"),
        ("/case deadline R-1 yesterday", "alex"),
        ("/case away until yesterday", "dana"),
    ],
)
async def test_yesterday_is_refused_on_weekends_and_holidays(
    bot: ConsoleBot, when: str, command: str, as_: str
) -> None:
    await _case_with_a_request(bot)
    await bot.say(f"/clock {when}")
    before = await _written(bot)
    out = await bot.say(command, as_=as_)
    yesterday = "Sat 28 Nov" if when == SUNDAY_NOON else "Fri 25 Dec"
    assert f"→ @{as_} (only you): " in out
    assert yesterday in out and "has already passed" in out
    assert "Mon" not in out  # never the next business day
    assert await _written(bot) == before


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("2026-11-28", "That day (Sat 28 Nov) has already passed"),
        ("28 nov", "Sat 28 Nov 2026 has already passed"),
        ("nov 27 15:00", "Fri 27 Nov 2026 has already passed"),
    ],
)
async def test_a_day_that_is_over_is_refused_by_name(
    bot: ConsoleBot, words: str, message: str
) -> None:
    await _case_with_a_request(bot)
    await bot.say(f"/clock {SUNDAY_NOON}")
    before = await _written(bot)
    out = await bot.say(f"/case promise C-1 {words}", as_="alex")
    assert f"→ @alex (only you): {message}" in out
    assert await _written(bot) == before


async def test_a_day_and_month_over_this_year_is_refused_with_the_year_to_write(
    bot: ConsoleBot,
) -> None:
    await _case_with_a_request(bot)
    await bot.say("/clock 2026-12-07 10:00")
    before = await _written(bot)
    out = await bot.say("/case ask C-1 @bo is it paid? by 3 mar", as_="alex")
    assert "Tue 3 Mar 2026 has already passed. If you mean Wed 3 Mar 2027" in out
    assert "write the year: 3 Mar 2027" in out
    assert await _written(bot) == before

    out = await bot.say("/case ask C-1 @bo is it paid? by 3 mar 2027", as_="alex")
    assert "R-2 asked of @bo: is it paid? — due Wed 3 Mar 2027 17:00 GMT." in out
    assert "due Wed 3 Mar 2027 17:00 GMT. (R-2)" in bot.to("bo", out)


async def test_a_time_next_year_shows_its_year(bot: ConsoleBot) -> None:
    await _case_with_a_request(bot)
    await bot.say("/clock 2026-12-31 16:00")
    out = await bot.say("/case promise C-1 2d", as_="alex")
    assert "an answer by Tue 5 Jan 2027 16:00 GMT" in out  # 1 Jan is a holiday
    out = await bot.say("/case away until 5 jan 2027", as_="dana")
    assert "You are away until Tue 5 Jan 2027 17:00 GMT" in out
    out = await bot.say("/case promise C-1 eod", as_="alex")
    assert "an answer by Thu 31 Dec 17:00 GMT" in out  # this year: no year


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("-5h", "'-5h' is a negative time, and a deadline must be ahead: did you mean 5h?"),
        ("in -2d", "'in -2d' is a negative time, and a deadline must be ahead: did you mean 2d?"),
        ("25:00", "'25:00' is not a time of day: hours go from 0 to 23"),
        ("tomorrow 17:75", "'17:75' is not a time of day"),
        ("13pm", "'13pm' is not a time of day: with am or pm, hours go from 1 to 12"),
        ("31 feb", "'31 feb' reads as 31 Feb, which is not a date."),
        ("29 feb", "'29 feb' reads as 29 Feb 2026, which is not a date."),
        ("2026-02-30", "'2026-02-30' is not a valid date and time."),
    ],
)
@pytest.mark.parametrize("form", ["ask", "promise"])
async def test_impossible_times_are_refused_with_what_was_read(
    bot: ConsoleBot, words: str, message: str, form: str
) -> None:
    await _case_with_a_request(bot)
    before = await _written(bot)
    if form == "ask":
        out = await bot.say(f"/case ask C-1 @bo is it paid? by {words}", as_="alex")
    else:
        out = await bot.say(f"/case promise C-1 {words}", as_="alex")
    assert f"→ @alex (only you): {message}" in out
    assert await _written(bot) == before


async def test_by_words_kept_in_the_question_say_which_default_applies(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund p2", as_="alex")
    out = await bot.say("/case ask C-1 billing whether the invoice was paid by the customer")
    assert "R-1 asked of the Billing team: whether the invoice was paid by the customer" in out
    assert (
        "→ @alex (only you): No deadline was read from 'by the customer', so those words stay in "
        "the question, and the P2 default (4h) applies: due Mon 23 Nov 13:00 GMT."
    ) in out
    async with bot.app.db.reader() as s:
        request = (await s.exec(select(Request))).one()
    assert request.question == "whether the invoice was paid by the customer"
    assert request.deadline.replace(tzinfo=None) == datetime(2026, 11, 23, 13, 0)


async def test_a_question_without_by_gets_no_note(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund p2", as_="alex")
    out = await bot.say("/case ask C-1 @dana was the invoice paid?")
    assert "No deadline was read" not in out
    out = await bot.say("/case ask C-1 @dana was it paid by card? by tomorrow")
    assert "R-2 asked of @dana: was it paid by card? — due Tue 24 Nov 17:00 GMT." in out
    assert "No deadline was read" not in out
