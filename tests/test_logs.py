"""The log: JSON or text, the request id and case key on each line about one, no secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot import log_context
from bot.runtime.inbox_items import Held, Item
from bot.runtime.inbox_workers import Workers
from bot.runtime.metrics import Metrics
from handlers import logs
from handlers.redaction import Redactor
from tests.conftest import ConsoleBot
from tests.fakes.slack_api import FakeSlack

SECRET = "xoxb-very-secret-token"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    root = logging.getLogger()
    for h in [h for h in root.handlers if isinstance(h, logs._OwnitHandler)]:
        root.removeHandler(h)
    root.setLevel(logging.WARNING)
    for name in logs.SLACK_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_json_lines_carry_the_request_and_the_case_and_no_secret(stream: io.StringIO) -> None:
    logs.setup(logging.INFO, "json", Redactor([SECRET]), stream=stream)
    log = logging.getLogger("ownit.test")
    log.info("before any delivery")
    with log_context.handling("inbox-7"):
        log_context.about_case("C-3")
        log.info("posting with %s", SECRET)
        try:
            raise RuntimeError(f"refused {SECRET}")
        except RuntimeError:
            log.exception("it failed")
    log.info("after")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        "before any delivery",
        "posting with ***",
        "it failed",
        "after",
    ]
    assert "request_id" not in lines[0] and "case" not in lines[0]
    assert lines[1]["request_id"] == lines[2]["request_id"] == "inbox-7"
    assert lines[1]["case"] == "C-3" and lines[1]["level"] == "INFO"
    assert lines[1]["logger"] == "ownit.test" and lines[1]["time"].endswith("+00:00")
    assert "RuntimeError: refused ***" in lines[2]["exception"]
    assert "request_id" not in lines[3]
    assert SECRET not in stream.getvalue()


def test_text_lines_for_a_terminal(stream: io.StringIO) -> None:
    logs.setup(logging.INFO, "text", Redactor([SECRET]), stream=stream)
    with log_context.handling("inbox-9"):
        log_context.about_case("C-1")
        logging.getLogger("ownit.test").warning("slow %s", SECRET)
    (line,) = stream.getvalue().splitlines()
    assert line.endswith("WARNING ownit.test [request_id=inbox-9] [case=C-1]: slow ***")


async def test_slack_calls_build_their_debug_lines_only_when_the_log_wants_them(
    stream: io.StringIO,
) -> None:
    """Slack's SDK asks its logger's own level, not the effective one, whether to build a call's
    debug lines (its arguments and the whole answer): the log's level is put there."""
    slack = await FakeSlack().start()
    client = AsyncWebClient(token="xoxb-test", base_url=slack.url)
    try:
        logs.setup(logging.INFO, "text", Redactor(), stream=stream)
        assert client.logger.level == logging.INFO  # not NOTSET: no debug line is built
        await client.chat_postMessage(channel="C1", text="quiet")
        assert stream.getvalue() == ""
        logs.setup(logging.DEBUG, "text", Redactor(), stream=stream)
        await client.chat_postMessage(channel="C1", text="loud")
        assert "Sending a request" in stream.getvalue() and "loud" in stream.getvalue()
    finally:
        await slack.close()


def test_auto_is_json_when_not_a_terminal(stream: io.StringIO) -> None:
    assert logs.wants_json("auto", stream)
    assert not logs.wants_json("text", stream) and logs.wants_json("json", stream)
    logs.setup(logging.INFO, "auto", Redactor(), stream=stream)
    logs.setup(logging.INFO, "auto", Redactor(), stream=stream)  # replaces, never piles up
    logging.getLogger("ownit.test").info("one")
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "one"


async def test_the_inbox_worker_names_the_delivery_it_handles() -> None:
    seen: list[dict[str, str]] = []
    done = asyncio.Event()

    async def handler(kind: str, payload: dict[str, Any], again: bool) -> None:
        seen.append(log_context.current())
        done.set()

    class Handled:
        def add(self, id_: int) -> None:
            pass

    held = Held()
    workers = Workers(
        held,
        {"slack": handler},
        Handled(),  # type: ignore[arg-type]
        Metrics(),
        count=1,
        low=lambda: None,
    )
    workers.start()
    try:
        held.hold(Item(42, "slack", "command", {}, datetime.now(UTC)))
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await workers.stop()
    assert seen == [{"request_id": "inbox-42"}]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_command_service_names_the_case(bot: ConsoleBot) -> None:
    await bot.say("/case open Acme Corp: invoice wrong promise tomorrow 17:00 p2")
    await bot.say("/case status C-1")
    assert log_context.case_key.get() == "C-1"
    await bot.say("/case mine")
    assert log_context.case_key.get() is None


def test_a_bad_log_level_is_named_not_a_traceback() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_"))}
    done = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "serve"],
        env={**env, "OWNIT_LOG_LEVEL": "LOUD"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "OWNIT_LOG_LEVEL" in done.stderr and "LOUD" in done.stderr
    assert "Traceback" not in done.stderr
