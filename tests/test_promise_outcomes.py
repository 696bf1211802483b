"""Issue 20, three promise outcomes: kept, renegotiated (moved before it passed), broken; shown in
`/case status`, the figures, the managers' digest, `ownit report` and `ownit export`.

A case's outcome is its last promise's (kept or broken); the promises it replaced are counted on
it, as renegotiated or broken."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from sqlmodel import select

from bot import figures, report
from storage.tables import Person
from storage.transfer import export
from tests.conftest import ConsoleBot

START = datetime(2026, 11, 23, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)


async def _renegotiated_then_kept(bot: ConsoleBot) -> None:
    """C-1: moved before it passed (renegotiated), then kept."""
    await bot.say("/case open Acme: refund missing promise tomorrow 12:00", as_="alex")
    out = await bot.say("/case promise C-1 wed 12:00")
    assert "The promise of Tue 24 Nov 12:00 GMT counts as renegotiated" in out
    assert "(renegotiations on this case: 1)" in out


async def _four_cases(bot: ConsoleBot) -> None:
    await _renegotiated_then_kept(bot)
    await bot.say("/case open Globex: login broken promise 12:00")  # C-2: broken, then kept
    await bot.say("/case open Initech: printer promise 11:00")  # C-3: kept
    await bot.say("/case open Umbrella: invoice promise 10:00")  # C-4: broken
    await bot.say("/case resolve C-3")
    await bot.say("/clock 13:00")
    out = await bot.say("/case promise C-2 15:00")
    assert "The promise of Mon 23 Nov 12:00 GMT had already passed: it counts as broken." in out
    await bot.say("/case resolve C-2")
    out = await bot.say("/case resolve C-4")
    assert "resolved. Promise broken." in out
    out = await bot.say("/case resolve C-1")
    assert "resolved. Promise kept." in out


async def test_status_shows_the_last_outcome_and_the_earlier_promises(bot: ConsoleBot) -> None:
    await _four_cases(bot)
    out = await bot.say("/case status C-1")
    assert "Promise: Wed 25 Nov 12:00 GMT — kept · earlier promises: 1 renegotiated, 0 broken" in (
        out
    )
    assert "(the earlier promise was moved before it passed: renegotiated)" in out  # timeline
    assert "promise: kept (renegotiated 1 time(s) before)" in out  # the case's figures
    out = await bot.say("/case status C-2")
    assert "Promise: Mon 23 Nov 15:00 GMT — kept · earlier promises: 0 renegotiated, 1 broken" in (
        out
    )
    assert "(the earlier promise had passed: broken)" in out
    out = await bot.say("/case status C-4")
    assert "Promise: Mon 23 Nov 10:00 GMT — broken\n" in out


async def test_a_first_promise_is_no_renegotiation(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund missing")
    out = await bot.say("/case promise C-1 tomorrow 12:00")
    assert "counts as" not in out
    out = await bot.say("/case status C-1")
    assert "earlier promises" not in out


async def test_figures_count_each_promise(bot: ConsoleBot) -> None:
    await _four_cases(bot)
    now = await bot.app.clock.now()
    async with bot.app.db.reader() as s:
        sam = (await s.exec(select(Person).where(Person.handle == "sam"))).one()
        scope = await figures.manager_scope(s, sam)
        f = await figures.compute(
            s, scope=scope, start=START, end=END, now=now, default=bot.app.calendar
        )
    # last promises: C-1, C-2, C-3 kept, C-4 broken; replaced: C-1's renegotiated, C-2's broken
    assert (f.promises_kept, f.promises_renegotiated, f.promises_broken) == (3, 1, 2)
    assert (f.promise_rate, f.renegotiated_rate, f.broken_rate) == (0.5, 1 / 6, 2 / 6)
    assert (f.renegotiated_cases, f.renegotiated_kept, f.renegotiated_kept_rate) == (1, 1, 1.0)


async def test_the_digest_shows_the_three_outcomes(bot: ConsoleBot) -> None:
    await _four_cases(bot)
    out = await bot.say("/case digest", as_="sam")
    assert (
        "Customer promises: 3 kept, 1 renegotiated, 2 broken (50 % kept, 17 % renegotiated, "
        "33 % broken). Renegotiated cases that kept the new promise: 1 of 1."
    ) in out


async def test_the_report_has_a_column_for_each_outcome(bot: ConsoleBot) -> None:
    await _four_cases(bot)
    now = await bot.app.clock.now()
    text = await report.export(
        bot.app.db, fmt="csv", since=START, until=END, now=now, default=bot.app.calendar
    )
    alex = next(r for r in csv.DictReader(io.StringIO(text)) if r["key"] == "alex")
    assert (alex["promises_kept"], alex["promises_renegotiated"], alex["promises_broken"]) == (
        "3",
        "1",
        "2",
    )
    assert alex["promise_kept_rate"] == "0.5" and alex["promise_broken_rate"] == "0.3333"
    assert alex["promise_renegotiated_rate"] == "0.1667"
    assert (alex["renegotiated_cases"], alex["renegotiated_then_kept_rate"]) == ("1", "1.0")


async def test_the_export_carries_the_counts(bot: ConsoleBot) -> None:
    await _four_cases(bot)
    lines: list[str] = []
    await export(bot.app.db, lines.append)
    cases = {
        item["row"]["customer"]: item["row"]
        for item in (json.loads(line) for line in "".join(lines).splitlines())
        if item.get("table") == "case"
    }
    acme, globex = cases["Acme"], cases["Globex"]
    assert (acme["promise_kept"], acme["promise_renegotiations"], acme["promise_breaks"]) == (
        True,
        1,
        0,
    )
    assert (globex["promise_renegotiations"], globex["promise_breaks"]) == (0, 1)
