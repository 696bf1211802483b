"""The promise rule, permissions, absence, handoffs and bad input that writes nothing."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from storage.tables import Case, Event, Outbox, Request
from tests.conftest import ConsoleBot


async def _counts(bot: ConsoleBot) -> tuple[int, int, int, int]:
    async with bot.app.db.reader() as s:
        return tuple(  # type: ignore[return-value]
            [
                (await s.exec(select(func.count()).select_from(t))).one()
                for t in (Case, Request, Event, Outbox)
            ]
        )


async def test_promise_rule_warns_and_offers_to_shorten(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund promise 15:00")
    out = await bot.say("/case ask C-1 @dana refund status? by 14:30")
    assert "Heads up: R-1 is due Mon 23 Nov 14:30 GMT" in out
    assert "Shorten it to Mon 23 Nov 14:00 GMT" in out
    out = await bot.say("/case deadline R-1 2026-11-23T14:00:00+00:00")
    assert "R-1 is now due Mon 23 Nov 14:00 GMT." in out
    assert "R-1 is now due Mon 23 Nov 14:00 GMT" in bot.to("dana", out)


async def test_deadline_within_buffer_passes_quietly(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund promise 15:00")
    out = await bot.say("/case ask C-1 @dana refund status? by 13:00")
    assert "Heads up" not in out


async def test_more_time_past_promise_is_flagged_to_owner(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund promise tomorrow 12:00")
    await bot.say("/case ask C-1 @dana refund status? by 16:00")
    out = await bot.say("/case more-time R-1 tomorrow 11:45 waiting on the bank", as_="dana")
    owner = bot.to("alex", out)
    assert "asks to move R-1" in owner and "past what your promise" in owner
    out = await bot.say("/case accept R-1", as_="alex")
    assert "R-1 is now due Tue 24 Nov 11:45 GMT" in out
    assert "too close to your promise" in out


@pytest.mark.parametrize(
    ("who", "command", "refusal"),
    [
        ("dana", "/case resolve C-1", "Only the owner of C-1 (@alex), their manager or an admin"),
        ("dana", "/case transfer C-1 @jo going on leave", "Only the owner of C-1"),
        # bo is not asked on C-1: to him it answers like a case that does not exist
        ("bo", "/case promise C-1 fri 12:00", "There is no case C-1."),
        ("alex", "/case answer R-1 I'll answer myself", "R-1 was asked of @dana"),
        ("bo", "/case ack R-1", "There is no request R-1."),
    ],
)
async def test_permissions(bot: ConsoleBot, who: str, command: str, refusal: str) -> None:
    await bot.say("/case open Acme: refund")
    await bot.say("/case ask C-1 @dana refund status? by 16:00")
    before = await _counts(bot)
    out = await bot.say(command, as_=who)
    assert refusal in out
    assert await _counts(bot) == before


async def test_owners_manager_may_resolve(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund")
    out = await bot.say("/case resolve C-1 handled by the lead", as_="sam")
    assert "C-1 (Acme) resolved" in out


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("/case open Acme refund", "colon"),
        ("/case open : refund", "customer"),
        ("/case ask C-9 @dana what? by 15:00", "There is no case C-9"),
        ("/case ask C-1 @nobody what? by 15:00", "I don't know anyone or any team called @nobody"),
        ("/case ask C-1 @dana", "question"),
        ("/case ask C-1 @dana what? by yesterday 10:00", "already passed"),
        ("/case ask C-1 @dana what? by 2026-11-20 10:00", "already passed"),
        ("/case status 42", "case key"),
        ("/case ack C-1", "request key"),
        ("/case frobnicate", "I don't know `frobnicate`"),
        ("/case promise C-1 someday", "time"),
        ("/case answer R-1 " + "x" * 3100, "too long"),
    ],
)
async def test_bad_input_gets_specific_message_and_writes_nothing(
    bot: ConsoleBot, command: str, message: str
) -> None:
    await bot.say("/case open Acme: refund")
    before = await _counts(bot)
    out = await bot.say(command)
    assert message.lower() in out.lower()
    assert "(only you)" in out
    assert await _counts(bot) == before


async def test_away_person_routes_to_backup_and_owner_is_told(bot: ConsoleBot) -> None:
    out = await bot.say("/case away until wed 09:00", as_="dana")
    assert "Requests to you go to @bo" in out
    await bot.say("/case open Acme: refund", as_="alex")
    out = await bot.say("/case ask C-1 @dana refund status? by 16:00")
    assert "Dana Billing is away; their backup Bo Billing has it" in out
    assert "needs your help" in bot.to("bo", out)
    assert bot.to("dana", out) == ""


async def test_away_without_backup_goes_to_manager(bot: ConsoleBot) -> None:
    await bot.say("/case away until tomorrow 17:00", as_="kenji")
    await bot.say("/case open Acme: crash", as_="alex")
    out = await bot.say("/case ask C-1 @kenji why? by fri 17:00")
    assert "their manager Lee Engineering-Lead has it" in out
    assert "needs your help" in bot.to("lee", out)


async def test_transfer_and_redirect_count_as_handoffs(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund")
    await bot.say("/case ask C-1 @dana refund? by 16:00")
    out = await bot.say("/case redirect R-1 @bo he handles EU refunds", as_="dana")
    assert "handed you R-1" in bot.to("bo", out)
    out = await bot.say("/case transfer C-1 @jo Jo owns the account", as_="alex")
    assert "Handoffs on this case: 2" in out
    assert "You are now the customer's single point of contact" in bot.to("jo", out)
    out = await bot.say("/case status C-1", as_="jo")
    assert "handoffs: 2" in out and "Owner: Jo Success" in out


async def test_unknown_console_person_and_mine(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund")
    await bot.say("/case ask C-1 @dana refund? by 16:00")
    out = await bot.say("/case mine", as_="dana")
    assert "R-1 (open): refund?" in out
    out = await bot.say("/case mine", as_="alex")
    assert "C-1 Acme: refund" in out
    out = await bot.say("/as nobody")
    assert "I don't know @nobody" in out


async def test_admin_changes_policy_and_others_cannot(bot: ConsoleBot) -> None:
    out = await bot.say("/case admin policy buffer 2h", as_="alex")
    assert "Only admins" in out
    out = await bot.say("/case admin policy buffer 2h", as_="sam")
    assert "buffer=2h" in out
    await bot.say("/case open Acme: refund promise 15:00", as_="alex")
    out = await bot.say("/case ask C-1 @dana status? by 13:30")
    assert "Heads up" in out  # 13:30 leaves 1h30 < the new 2h buffer


async def test_transfer_and_reopen_keep_one_promise_step(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: refund promise tomorrow 12:00")
    out = await bot.say("/case transfer C-1 @jo Jo owns the account")
    assert "now belongs to @jo" in out
    await bot.say("/case resolve C-1", as_="jo")
    out = await bot.say("/case reopen C-1", as_="jo")
    assert "is open again" in out
    out = await bot.say("/clock tomorrow 11:05")
    assert "Promise at risk on C-1" in bot.to("jo", out)
    assert bot.to("alex", out) == ""  # the old owner no longer hears about it
    out = await bot.say("/case transfer C-1 @alex back to Alex", as_="jo")
    assert "now belongs to @alex" in out
    out = await bot.say("/clock +1h")
    assert "Promise" not in out  # the step fired once for this promise


async def test_a_teams_manager_sets_its_targets(bot: ConsoleBot) -> None:
    out = await bot.say("/case admin target billing on_time 95%", as_="dana")
    assert "Only the manager of @billing" in out
    out = await bot.say("/case admin target billing on_time 95%", as_="morgan")
    assert "Targets of @billing: on time 95%, first response within 60 minutes." in out
    out = await bot.say("/case admin target billing first_response soon", as_="morgan")
    assert "`soon` is not a number" in out


async def test_policy_change_reaches_other_replicas_within_rules_fresh(
    bot: ConsoleBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from bot.runtime import app as app_module
    from bot.runtime.app import Ownit

    monkeypatch.setattr(app_module, "RULES_FRESH", 3600.0)
    other = await Ownit.start(bot.app.settings, simulated=True)
    try:
        assert (await other.rules()).policy.buffer == timedelta(hours=1)
        assert (await bot.app.rules()).policy.buffer == timedelta(hours=1)
        await bot.say("/case admin policy buffer 2h", as_="sam")
        assert (await bot.app.rules()).policy.buffer == timedelta(hours=2)  # here: at once
        assert (await other.rules()).policy.buffer == timedelta(hours=1)  # there: kept a while
        monkeypatch.setattr(app_module, "RULES_FRESH", 0.0)
        assert (await other.rules()).policy.buffer == timedelta(hours=2)
    finally:
        await other.close()
