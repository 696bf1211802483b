"""The command grammar fuzzed: any text is a Command whose values fit where they are kept, or a
UsageError; run against a database (SQLite and PostgreSQL), nothing raises and a refused command
writes nothing."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.admin.commands import AddPerson, AddTeam, Link
from bot.commands import grammar as c
from bot.commands import service
from bot.commands import words as w
from storage.states import Platform
from tests.conftest import ConsoleBot
from tests.faults.test_limits import rows

_WORDS = [
    "open", "ask", "promise", "status", "mine", "update", "resolve", "reopen", "transfer", "ack",
    "answer", "more-time", "more time", "accept", "decline", "deadline", "redirect", "away",
    "back", "digest", "rate", "help", "admin person add", "admin team add", "admin link",
    "admin target billing first_response", "admin calendar", "admin member add billing",
]  # fmt: skip
_KEYS = st.one_of(
    st.integers(0, 3).map(lambda n: f"C-{n}"),
    st.integers(0, 3).map(lambda n: f"R-{n}"),
    st.integers(2**31 - 2, 2**31 + 2).map(lambda n: f"C-{n}"),
    st.integers(2**31 - 2, 2**31 + 2).map(lambda n: f"R-{n}"),
    st.integers(10, 400).map(lambda n: "R-" + "9" * n),
    st.integers(10, 400).map(lambda n: "c" + "0" * n + "1"),
)
_PEOPLE = st.one_of(
    st.sampled_from(["@dana", "billing", "@sam", "@here", "<!channel>", "@alex"]),
    st.integers(1, 300).map(lambda n: "<@U" + "1" * n + ">"),
    st.integers(1, 60).map(lambda n: "<!subteam^S" + "2" * n + "|@billing>"),
    st.integers(70, 90).map(lambda n: "@" + "d" * n),
)
_WHENS = st.sampled_from(["tomorrow 17:00", "eod", "fri 3pm", "4h", "by eod", "promise eod"])
_LENGTHS = st.sampled_from([1, 79, 80, 81, 199, 200, 201, 2999, 3000, 3001])
_TEXT = st.one_of(
    st.text(max_size=30),
    _LENGTHS.map(lambda n: "x" * n),
    st.tuples(_LENGTHS, st.sampled_from("aé\u202e\x00 :<>&")).map(lambda t: t[1] * t[0]),
)
_PIECE = st.one_of(_KEYS, _PEOPLE, _WHENS, _TEXT, st.sampled_from(["p1", "P5", ":", "kept", "5"]))
COMMANDS = st.tuples(st.sampled_from(_WORDS), st.lists(_PIECE, max_size=5)).map(
    lambda t: " ".join([t[0], *t[1]])
)

_KEY = re.compile(r"[CR]-[0-9]+")
WHENS = frozenset({"tomorrow 17:00", "eod", "fri 3pm", "4h"})


def fits(command: c.Command) -> None:
    """Every value of a command fits the column it would be kept in, or the free-text limit."""
    for f in dataclasses.fields(command):  # type: ignore[arg-type]
        value: Any = getattr(command, f.name)
        if isinstance(value, c.Ref):
            limit = {"user": w.MAX_PLATFORM_ID, "team": w.MAX_SLACK_ID, "name": w.MAX_HANDLE}
            assert len(value.value) <= limit[value.kind], command
        elif isinstance(value, str) and f.name in ("case", "request"):
            assert _KEY.fullmatch(value), command
        elif isinstance(value, str):
            assert len(value) <= w.MAX_TEXT, command
    if isinstance(command, c.Open):
        assert len(command.customer) <= w.MAX_CUSTOMER
    if isinstance(command, AddPerson | AddTeam):
        assert len(command.name) <= w.MAX_NAME
    if isinstance(command, AddPerson):
        assert len(command.handle) <= w.MAX_HANDLE + 1 and len(command.email or "") <= w.MAX_EMAIL
    if isinstance(command, Link):
        widest = w.MAX_SLACK_ID if command.platform == Platform.SLACK else w.MAX_PLATFORM_ID
        assert len(command.platform_id) <= widest


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(COMMANDS, st.text(max_size=300)), slack=st.booleans())
def test_any_text_is_a_command_that_fits_or_a_usage_error(text: str, slack: bool) -> None:
    try:
        command = c.parse(
            text,
            is_when=lambda s: s in {"tomorrow 17:00", "eod", "fri 3pm", "4h"},
            slack_entities=slack,
        )
    except c.UsageError as exc:
        assert exc.message and "Traceback" not in exc.message
        return
    fits(command)


def _examples(strategy: st.SearchStrategy[str], n: int) -> list[str]:
    """`n` texts drawn by hypothesis (deterministically), to be run against a database."""
    found: list[str] = []

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def draw(text: str) -> None:
        found.append(text)

    draw()
    return found


async def test_commands_against_a_database_write_nothing_when_refused(bot: ConsoleBot) -> None:
    """Through the console's path (`service.handle`), on SQLite and PostgreSQL: every command
    is answered; a refused one leaves every table as it was."""
    await bot.say("/case open Acme: invoice wrong promise fri 17:00")
    await bot.say("/case ask C-1 @dana Charged twice?")
    refusals = 0
    for i, text in enumerate(_examples(COMMANDS, 120)):
        actor = ("alex", "dana", "sam")[i % 3]
        before = await rows(bot.app)
        reply = await service.handle(
            bot.app, text, service.Origin(Platform.CONSOLE, actor), key=None
        )
        for message in reply.messages:
            assert "Traceback" not in str(message), text
        if not reply.ok:
            refusals += 1
            assert await rows(bot.app) == before, text
        await bot.app.settle()
    assert refusals > 50  # most fuzzed commands are refused, and those were checked
