"""The access model, cell by cell (command × role), through the console.

C-1 is alex's case (his manager sam is an admin too); R-1 asks dana on it. lee is made an admin
who manages nobody on the case; morgan manages dana; jo works beside alex; bo beside dana; kenji
is a stranger. A denial names what was refused, or answers like a case that does not exist to
whoever may not see it, and writes nothing.
"""

from __future__ import annotations

import logging

import pytest

from bot.commands import service as dispatch
from bot.commands.origin import Origin
from storage.states import Platform
from tests.conftest import ConsoleBot
from tests.security.support import (
    NO_CASE,
    NO_REQUEST,
    NOT_A_PERSON,
    NOT_ASKED,
    NOT_ASKER,
    NOT_OWNER_SIDE,
    counts,
)

OWNER_SIDE = ("alex", "sam", "lee")
NOBODY_ON_IT = ("morgan", "jo", "bo", "kenji")


async def _story(bot: ConsoleBot) -> None:
    await bot.say("/case admin admin add @lee", as_="sam")
    await bot.say("/case open Acme: refund promise tomorrow 15:00", as_="alex")
    out = await bot.say("/case ask C-1 @dana refund status? by 16:00", as_="alex")
    assert "R-1" in out


async def _denied(bot: ConsoleBot, who: str, command: str, refusal: str) -> None:
    await _story(bot)
    before = await counts(bot.app)
    out = await bot.say(command, as_=who)
    assert refusal in out, out
    assert "(only you)" in out
    assert await counts(bot.app) == before


CASE_COMMANDS = [
    "/case resolve C-1 done",
    "/case reopen C-1",
    "/case promise C-1 fri 12:00",
    "/case transfer C-1 @jo going on leave",
    "/case ask C-1 @bo anything?",
    "/case update C-1",
    "/case rate C-1 5",
]
REQUEST_COMMANDS = [
    "/case ack R-1",
    "/case answer R-1 refunded",
    "/case more-time R-1 fri 12:00 waiting on the bank",
    "/case redirect R-1 @bo he does refunds",
]
ASKER_COMMANDS = ["/case accept R-1", "/case decline R-1", "/case deadline R-1 15:00"]


@pytest.mark.parametrize("who", NOBODY_ON_IT)
@pytest.mark.parametrize("command", ["/case status C-1", *CASE_COMMANDS])
async def test_a_case_is_hidden_from_whoever_is_not_on_it(
    bot: ConsoleBot, who: str, command: str
) -> None:
    await _denied(bot, who, command, NO_CASE)


@pytest.mark.parametrize("who", NOBODY_ON_IT)
@pytest.mark.parametrize("command", REQUEST_COMMANDS + ASKER_COMMANDS)
async def test_a_request_is_hidden_from_whoever_is_not_on_it(
    bot: ConsoleBot, who: str, command: str
) -> None:
    await _denied(bot, who, command, NO_REQUEST)


@pytest.mark.parametrize("command", CASE_COMMANDS)
async def test_the_asked_colleague_may_not_run_the_case(bot: ConsoleBot, command: str) -> None:
    await _denied(bot, "dana", command, NOT_OWNER_SIDE)


@pytest.mark.parametrize("who", OWNER_SIDE)
@pytest.mark.parametrize("command", REQUEST_COMMANDS)
async def test_the_owners_side_may_not_answer_for_the_colleague(
    bot: ConsoleBot, who: str, command: str
) -> None:
    await _denied(bot, who, command, NOT_ASKED)


@pytest.mark.parametrize("command", ASKER_COMMANDS)
async def test_the_asked_colleague_may_not_decide_their_own_deadline(
    bot: ConsoleBot, command: str
) -> None:
    await _denied(bot, "dana", command, NOT_ASKER)


async def test_an_unknown_key_and_a_hidden_one_read_the_same(bot: ConsoleBot) -> None:
    await _story(bot)
    hidden = await bot.say("/case status C-1", as_="kenji")
    missing = await bot.say("/case status C-9", as_="kenji")
    assert hidden.replace("C-1", "C-X") == missing.replace("C-9", "C-X")
    hidden = await bot.say("/case answer R-1 hi", as_="kenji")
    missing = await bot.say("/case answer R-9 hi", as_="kenji")
    assert hidden.replace("R-1", "R-X") == missing.replace("R-9", "R-X")


@pytest.mark.parametrize("who", OWNER_SIDE)
async def test_the_owners_side_sees_everything(bot: ConsoleBot, who: str) -> None:
    await _story(bot)
    out = await bot.say("/case status C-1", as_=who)
    assert "C-1 · Acme" in out and "Promise:" in out and "Timeline" in out and "R-1" in out


async def test_the_asked_colleague_sees_the_header_and_their_own_requests(
    bot: ConsoleBot,
) -> None:
    await _story(bot)
    await bot.say("/case ask C-1 @kenji logs?", as_="alex")
    out = await bot.say("/case status C-1", as_="dana")
    assert "C-1 · Acme" in out and "Owner: Alex Advisor" in out
    assert "R-1 → Dana Billing: refund status?" in out
    assert "R-2" not in out and "Timeline" not in out and "Promise:" not in out


async def test_the_asked_colleagues_manager_sees_an_escalated_request(bot: ConsoleBot) -> None:
    await _story(bot)
    assert NO_CASE in await bot.say("/case status C-1", as_="morgan")
    out = await bot.say("/clock 16:05", as_="morgan")
    out = await bot.say("/case status C-1", as_="morgan")
    assert "R-1 → Dana Billing" in out and "Timeline" not in out
    assert NOT_OWNER_SIDE in await bot.say("/case resolve C-1", as_="morgan")
    assert NOT_ASKED in await bot.say("/case answer R-1 done", as_="morgan")


@pytest.mark.parametrize("who", OWNER_SIDE)
async def test_the_owners_side_runs_the_case(bot: ConsoleBot, who: str) -> None:
    await _story(bot)
    out = await bot.say("/case promise C-1 fri 12:00", as_=who)
    assert "Promise to Acme on C-1" in out
    out = await bot.say("/case deadline R-1 15:00", as_=who)
    assert "R-1 is now due" in out
    out = await bot.say("/case resolve C-1 done", as_=who)
    assert "C-1 (Acme) resolved" in out
    out = await bot.say("/case reopen C-1", as_=who)
    assert "C-1 (Acme) is open again" in out


@pytest.mark.parametrize("who", ["sam", "lee"])
async def test_the_owner_is_told_when_someone_else_acts(bot: ConsoleBot, who: str) -> None:
    await _story(bot)
    out = await bot.say("/case promise C-1 fri 12:00", as_=who)
    assert f"@{who} changed the promise on your case C-1 (Acme)" in bot.to("alex", out)
    out = await bot.say("/case ask C-1 @bo second opinion?", as_=who)
    assert f"@{who} asked a colleague on your case C-1 (Acme) as R-2" in bot.to("alex", out)
    out = await bot.say("/case resolve C-1 done", as_=who)
    assert f"@{who} resolved your case C-1 (Acme)" in bot.to("alex", out)


async def test_the_owner_acting_is_not_told(bot: ConsoleBot) -> None:
    await _story(bot)
    out = await bot.say("/case resolve C-1 done", as_="alex")
    assert "your case" not in out


@pytest.mark.parametrize("who", ["dana", *NOBODY_ON_IT])
async def test_only_admins_change_the_organisation(bot: ConsoleBot, who: str) -> None:
    await _denied(bot, who, "/case admin team add qa QA", "Only admins can change")


async def test_admins_change_the_organisation(bot: ConsoleBot) -> None:
    await _story(bot)
    assert "Only admins" not in await bot.say("/case admin team add qa QA", as_="lee")


@pytest.mark.parametrize("who", ["alex", "dana", "bo", "kenji", "jo"])
async def test_a_teams_digest_is_its_managers(bot: ConsoleBot, who: str) -> None:
    await _denied(bot, who, "/case digest billing", "Only the manager of @billing")


@pytest.mark.parametrize("who", ["morgan", "sam", "lee"])
async def test_managers_and_admins_get_a_teams_digest(bot: ConsoleBot, who: str) -> None:
    await _story(bot)
    out = await bot.say("/case digest billing", as_=who)
    assert "Only the manager" not in out


@pytest.mark.parametrize("who", ["alex", "dana", "kenji"])
async def test_targets_are_the_managers(bot: ConsoleBot, who: str) -> None:
    await _denied(
        bot, who, "/case admin target billing on_time 0.8", "Only the manager of @billing"
    )


@pytest.mark.parametrize("who", ["kenji", "jo", "dana"])
async def test_being_a_person_lets_you_open_cases_and_see_yours(bot: ConsoleBot, who: str) -> None:
    await _story(bot)
    out = await bot.say("/case open Beta: login broken", as_=who)
    assert "C-2 opened for Beta" in out
    assert "C-2 Beta" in await bot.say("/case mine", as_=who)


# --------------------------------------------------------------------------- who is a person


async def _as(bot: ConsoleBot, text: str, origin: Origin) -> tuple[dispatch.Reply, bool]:
    before = await counts(bot.app)
    reply = await dispatch.handle(bot.app, text, origin)
    return reply, await counts(bot.app) == before


async def test_a_request_without_a_user_is_refused(bot: ConsoleBot) -> None:
    reply, unchanged = await _as(bot, "open Acme: x", Origin(Platform.SLACK, ""))
    assert not reply.ok and unchanged
    assert "can't tell who sent this" in reply.messages[0].plain()


async def test_another_workspace_is_refused_even_for_a_person(bot: ConsoleBot) -> None:
    origin = Origin(Platform.SLACK, "UALEX", email="alex@example.com", home="TX", org_home="T0")
    reply, unchanged = await _as(bot, "mine", origin)
    assert not reply.ok and unchanged
    assert "not the organisation's own" in reply.messages[0].plain()


@pytest.mark.parametrize(
    "origin",
    [
        Origin(Platform.SLACK, "UGUEST", name="Gus Guest", guest=True),
        Origin(Platform.TEAMS, "aad-bot", name="Some Bot", bot=True),
        Origin(Platform.SLACK, "UNOBODY", known=False),
    ],
    ids=["guest", "bot", "unknown"],
)
async def test_a_guest_or_bot_gets_help_only_and_no_row(
    bot: ConsoleBot, origin: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    await _story(bot)
    with caplog.at_level(logging.INFO):
        for text in ("open Acme: x", "status C-1", "help"):
            reply, unchanged = await _as(bot, text, origin)
            assert not reply.ok and unchanged
            assert NOT_A_PERSON in reply.messages[0].plain()
            assert "/case open" in reply.messages[0].plain()  # the help comes with it
    assert "not a person of the organisation" in caplog.text


async def test_a_guest_in_the_org_file_is_a_person(bot: ConsoleBot) -> None:
    origin = Origin(Platform.SLACK, "UJOGUEST", email="jo@example.com", guest=True)
    reply = await dispatch.handle(bot.app, "open Acme: refund", origin)
    assert reply.ok and "Owner @jo" in reply.messages[0].plain()


async def test_a_full_member_becomes_a_person_who_sees_only_their_own(bot: ConsoleBot) -> None:
    await _story(bot)
    origin = Origin(Platform.SLACK, "UNIA", name="Nia New", home="T0", org_home="T0")
    reply = await dispatch.handle(bot.app, "status C-1", origin)
    assert not reply.ok and NO_CASE in reply.messages[0].plain()
    reply = await dispatch.handle(bot.app, "open Beta: login", origin)
    assert reply.ok and "C-2 opened" in reply.messages[0].plain()


async def test_a_denial_is_logged(bot: ConsoleBot, caplog: pytest.LogCaptureFixture) -> None:
    await _story(bot)
    with caplog.at_level(logging.INFO, logger="bot.access"):
        await bot.say("/case status C-1", as_="kenji")
    assert "denied see_case (see) to @kenji: There is no case C-1." in caplog.text
