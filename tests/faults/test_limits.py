"""Values larger than their column or integer: refused with a specific message that says the
limit, nothing written (on SQLite and PostgreSQL, which is where a value too wide used to crash),
and a key too large to exist is "no such case/request", in the words of any missing key."""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select

from bot.commands import grammar as c
from bot.commands import service
from bot.runtime.app import Ownit
from storage.tables import Case, Delivery, Event, Outbox, Person, Request, Team, Timer
from tests.conftest import ConsoleBot
from tests.fakes.slack_api import Workspace, count, swept, text_of
from tests.teams_support import ALEX, DANA, teams_world

HUGE = "9" * 23
TABLES = (Case, Request, Event, Person, Team, Timer, Outbox, Delivery)


async def rows(app: Ownit) -> dict[str, int]:
    """Every table a command may write, counted."""
    async with app.db.reader() as s:
        return {
            t.__name__: int((await s.exec(select(func.count()).select_from(t))).one())
            for t in TABLES
        }


async def refused(bot: ConsoleBot, text: str, as_: str = "alex") -> str:
    """Say `text`; it must change nothing."""
    before = await rows(bot.app)
    out = await bot.say(text, as_=as_)
    assert await rows(bot.app) == before, out
    assert "Traceback" not in out and "sorry" not in out.lower(), out
    return out


async def test_a_key_too_large_is_a_key_of_nothing(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme: invoice wrong")
    await bot.say("/case ask C-1 @dana Was it charged twice?")
    for key, missing in (("C", "case"), ("R", "request")):
        absent = await refused(bot, f"/case status {key}-999" if key == "C" else "/case ack R-999")
        assert f"There is no {missing} {key}-999." in absent
    for text, said in (
        (f"/case status C-{HUGE}", "There is no case C-9999999999999999"),
        (f"/case status c{HUGE}", "There is no case C-9999999999999999"),
        ("/case status C-2147483648", "There is no case C-2147483648."),
        (f"/case ack R-{HUGE}", "There is no request R-9999999999999999"),
        (f"/case answer R-{HUGE} it is", "There is no request R-"),
        (f"/case ask C-{HUGE} @dana hi", "There is no case C-"),
        ("/case more-time R-" + "1" * 500 + " fri too much", "There is no request R-1111"),
        (f"/case rate C-{HUGE} 5", "There is no case C-"),
    ):
        out = await refused(bot, text, as_="dana" if "R-" in text else "alex")
        assert said in out, out
    assert "There is no case C-2147483647." in await refused(bot, "/case status C-2147483647")


def test_the_grammar_keeps_a_large_key_as_a_key() -> None:
    ask = service.parse(f"ask C-{HUGE} @dana hi")
    assert isinstance(ask, c.Ask) and ask.case == f"C-{HUGE}"
    assert service.parse(f"ack r000{HUGE}") == c.Ack(f"R-{HUGE}", None)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("/case open " + "c" * 201 + ": x", "customer name is too long (201 characters"),
        ("/case open Acme: " + "s" * 3001, "summary is too long (3001 characters"),
        ("/case ask C-1 @dana " + "q" * 3001, "question is too long (3001 characters"),
        ("/case resolve C-1 " + "n" * 3001, "note is too long"),
        ("/case transfer C-1 @sam " + "r" * 3001, "reason is too long"),
        ("/case rate C-1 5 " + "x" * 3001, "comment is too long"),
        ("/case ask C-1 @" + "d" * 81 + " hi", "not `@ddd"),
        ("/case ask C-1 <@U" + "1" * 300 + "> hi", "not `<@U111"),
        ("/case ask C-1 <!subteam^S" + "1" * 50 + "> hi", "not `<!subteam^S111"),
        ("/case " + "x" * 10_001, "That command is too long (10007 characters"),
    ],
)
async def test_typed_values_over_their_limit_are_refused(
    bot: ConsoleBot, text: str, said: str
) -> None:
    if not text.startswith("/case open"):
        await bot.say("/case open Acme: invoice wrong")
    out = await refused(bot, text)
    assert said in out, out


async def test_the_usage_says_the_limits(bot: ConsoleBot) -> None:
    out = await refused(bot, "/case open " + "c" * 201 + ": x")
    assert "Limits: customer name up to 200 characters, summary up to 3000 characters." in out
    out = await refused(bot, "/case answer R-1")
    assert "Limits: answer up to 3000 characters." in out
    with pytest.raises(c.UsageError) as raised:
        service.parse("ask C-1 @dana " + "q" * 3001)
    assert raised.value.usage.endswith("Limits: question up to 3000 characters.")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("/case admin person add river " + "N" * 201, "name is too long (201 characters"),
        ("/case admin person add " + "r" * 90 + " River", "handle is too long"),
        ("/case admin person add river River " + "e" * 320 + "@x.io", "e-mail is too long"),
        ("/case admin team add " + "t" * 90 + " Team", "team key is too long"),
        ("/case admin team add tax " + "T" * 201, "name is too long"),
        ("/case admin link @dana slack U" + "1" * 40, "slack id is too long"),
        ("/case admin link @dana teams " + "2" * 201, "teams id is too long"),
        ("/case admin target billing first_response " + HUGE, "is not a number"),
        ("/case admin target billing first_response " + "9" * 5000, "is not a number"),
        ("/case admin calendar @dana " + "Z" * 70, "calendar"),
    ],
)
async def test_admin_values_over_their_column_are_refused(
    bot: ConsoleBot, text: str, said: str
) -> None:
    out = await refused(bot, text, as_="sam")
    assert said in out, out


async def test_a_slack_button_with_a_huge_key_says_no_such_request(ws: Workspace) -> None:
    for key, missing in ((f"R-{HUGE}", "There is no request R-9999"), ("R-1", "no request R-1")):
        button = {"action_id": "ownit_ack", "value": json.dumps({"k": key, "v": ""})}
        r = await ws.drive.click("dana", button)
        assert r.status == 200
        await swept(ws)
        answer = ws.fake.of("response_url")[-1]
        assert missing in text_of(answer) and "sorry" not in text_of(answer).lower()
    assert await count(ws, Request) == 0


async def test_the_slack_form_refuses_what_its_columns_can_not_keep(ws: Workspace) -> None:
    from handlers.slack import modals

    form = modals.open_case({"channel": "CSUPPORT", "thread": None})
    customer = next(b for b in form["blocks"] if b["block_id"] == "customer")
    assert customer["element"]["max_length"] == 200
    for values, field in (
        ({"customer": "c" * 201, "summary": "x"}, "customer"),
        ({"customer": "Acme", "summary": "s" * 3001}, "summary"),
        ({"customer": "Acme", "summary": "x", "promise": "fri " * 60}, "promise"),
    ):
        values["priority"] = {"type": "static_select", "selected_option": {"value": "P3"}}
        r = await ws.drive.submit("alex", form, values)
        assert r.status == 200
        answer = r.json()
        assert answer["response_action"] == "errors"
        assert "too long" in answer["errors"][field]
    rate = modals.rate({"key": "C-1"})
    r = await ws.drive.submit(
        "alex",
        rate,
        {
            "score": {"type": "static_select", "selected_option": {"value": "5"}},
            "comment": "c" * 3001,
        },
    )
    assert "too long" in r.json()["errors"]["comment"]
    await swept(ws)
    assert await count(ws, Case) == 0


async def test_teams_refuses_huge_keys_and_long_fields(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        status, body = await w.post(w.invoke(DANA, {"ownit": "ack", "key": f"R-{HUGE}"}))
        assert status == 200
        assert "There is no request R-9999" in json.dumps(body)
        form = {"ownit": "open", "open.customer": "c" * 201, "open.summary": "x"}
        status, body = await w.post(w.invoke(ALEX, form))
        assert status == 200
        assert "customer name is too long (201 characters" in json.dumps(body)
        async with w.app.db.reader() as s:
            assert (await s.exec(select(func.count()).select_from(Case))).one() == 0
            assert (await s.exec(select(func.count()).select_from(Request))).one() == 0
