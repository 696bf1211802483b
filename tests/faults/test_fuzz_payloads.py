"""The Slack and Teams payload parsers fuzzed: Slack-shaped deliveries with parts of any JSON shape,
read directly (a Command, a refusal or nothing, never an exception) and sent signed to the real
endpoints (no 5xx, no traceback, nothing written, no error in the handling of what was kept)."""

from __future__ import annotations

import copy
import json
import logging
import time
import urllib.parse
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import grammar as c
from handlers.slack import modals
from handlers.slack import payloads as p
from handlers.teams import activities as a
from handlers.teams import buttons
from storage.tables import Case, Request
from tests.fakes.slack_api import TEAM, Workspace, count, sign, swept, uid
from tests.faults.test_fuzz_grammar import _examples
from tests.teams_support import ALEX, TeamsWorld, teams_world

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


TEAMS_FIELDS = [
    "type", "conversation", "from", "serviceUrl", "value", "entities", "channelData",
    "membersAdded", "name", "id", "recipient", "text",
]  # fmt: skip


def _action() -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": uid("dana"), "team_id": TEAM},
        "api_app_id": "A0OWNIT",
        "trigger_id": "1.2.t",
        "response_url": "http://127.0.0.1:9/hook",
        "channel": {"id": "DUDANA"},
        "container": {"type": "message", "channel_id": "DUDANA"},
        "actions": [
            {
                "type": "button",
                "action_id": "ownit_ack",
                "block_id": "b",
                "value": json.dumps({"k": "R-1", "v": ""}),
                "action_ts": "1790000001.5",
            }
        ],
    }


def _view() -> dict[str, Any]:
    text = {"type": "plain_text_input", "value": "Acme"}
    return {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": uid("alex"), "team_id": TEAM},
        "trigger_id": "t",
        "view": {
            "id": "VSUB1",
            "callback_id": modals.OPEN,
            "private_metadata": json.dumps({"channel": "CSUPPORT"}),
            "state": {
                "values": {
                    "customer": {"value": dict(text)},
                    "summary": {"value": {**text, "value": "invoice wrong"}},
                    "priority": {
                        "value": {"type": "static_select", "selected_option": {"value": "P3"}}
                    },
                }
            },
            "hash": "h1",
        },
    }


def _event(kind: str) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A0OWNIT",
        "type": "event_callback",
        "event_id": "Ev0001",
        "event_time": 1790000000,
        "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
        "event": {
            "type": kind,
            "user": uid("alex"),
            "text": "<@UBOT> status C-1",
            "channel": "DUALEX" if kind == "message" else "CSUPPORT",
            "channel_type": "im" if kind == "message" else "channel",
            "ts": "1790100001.000200",
        },
    }


TEMPLATES = {
    "action": _action,
    "view": _view,
    "mention": lambda: _event("app_mention"),
    "message": lambda: _event("message"),
}


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += _paths(v, (*prefix, i))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A Slack-shaped delivery with one to three of its parts replaced by any JSON value."""
    kind = draw(st.sampled_from(sorted(TEMPLATES)))
    body = TEMPLATES[kind]()
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        target = body
        for step in path[:-1]:  # the paths are read afresh each round, so each one exists
            target = target[step]
        target[path[-1]] = draw(JSON_VALUES)
    return kind, body


def _read_slack(kind: str, body: dict[str, Any]) -> None:
    """Everything ownit reads of a delivery, as the receiver and the inbox handler read it."""
    if not p.slack_shaped(body):
        return  # refused at the door (400)
    if kind == "action":
        actions = body.get("actions") or [{}]
        if not p.well_formed_action(body, actions[0]):
            return
        clicked = p.click(actions[0])
        p.button_command(clicked)
        p.action_key(body, actions[0])
        p.action_where(body)
    elif kind == "view":
        view = p.obj(body.get("view"))
        p.view_key(p.view_where(body, view), view)
        try:
            modals.command(p.text_of(view.get("callback_id")), view)
        except modals.FormError as exc:
            assert exc.message
    else:
        event = body.get("event")
        if not p.well_formed_event(body, event):
            return
        assert isinstance(event, dict)
        p.event_key(body)
        p.message_for_ownit(event, "UBOT")
        where = p.mention_where(body, event) if kind == "mention" else p.message_where(body, event)
        assert all(isinstance(v, str | None) for v in vars(where).values())
        try:
            p.parse(p.text_of(event.get("text")))
        except c.UsageError:
            pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(delivery=mutated())
def test_slack_payloads_of_any_shape_are_read_without_exceptions(
    delivery: tuple[str, dict[str, Any]],
) -> None:
    _read_slack(*delivery)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200), json_type=st.booleans(), value=JSON_VALUES)
def test_slack_bodies_are_an_object_or_malformed(text: str, json_type: bool, value: Any) -> None:
    for body in (text, json.dumps(value), "payload=" + urllib.parse.quote(json.dumps(value))):
        try:
            parsed = p.delivery_body(body, "application/json" if json_type else "")
        except p.Malformed:
            continue
        assert isinstance(parsed, dict)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.sampled_from(["ownit", "key", "value", "open.customer",
       "open.summary", "open.promise", "open.priority", "answer.text", "more_time.when",
       "more_time.reason", "redirect.to", "redirect.reason", "rate.score", "rate.comment",
       "decline.note"]), JSON_VALUES | st.sampled_from(["ack", "answer", "rate", "open",
       "more_time", "redirect", "shorten", "R-1", "C-1", "R-" + "9" * 30, "x" * 3001]),
       max_size=6))  # fmt: skip
def test_teams_card_data_of_any_shape_is_a_command_a_usage_error_or_nothing(
    data: dict[str, Any],
) -> None:
    try:
        command = buttons.open_command(data) if data.get("ownit") == "open" else None
        command = command or buttons.command_for(data)
    except c.UsageError as exc:
        assert exc.message
        return
    if isinstance(command, c.Open):
        assert len(command.customer) <= c.MAX_CUSTOMER


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, field=st.sampled_from(TEAMS_FIELDS))
def test_teams_activities_of_any_shape_are_read_or_refused(value: Any, field: str) -> None:
    body = {
        "type": "message",
        "id": "act-1",
        "serviceUrl": "http://127.0.0.1:9",
        "from": {"id": "29:alex", "aadObjectId": "aad-alex"},
        "recipient": {"id": "28:ownit-bot"},
        "conversation": {"id": "a:personal", "conversationType": "personal"},
        "text": "case status C-1",
        field: value,
    }
    act, kept = a.read_activity(json.dumps(body).encode())
    if act is None:
        return
    assert kept == body
    a.kind_of(act)
    a.delivery_key(act)
    a.tenant_of(act)
    a.submitted(act)
    a.card_action(act)
    a.mentions(act)


def _signed_request(kind: str, body: dict[str, Any]) -> tuple[str, str]:
    if kind in ("action", "view"):
        return urllib.parse.urlencode(
            {"payload": json.dumps(body)}
        ), "application/x-www-form-urlencoded"
    return json.dumps(body), "application/json"


async def test_signed_fuzzed_deliveries_get_no_5xx_and_write_nothing(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    deliveries = _examples(mutated().map(json.dumps), 150)
    caplog.set_level(logging.ERROR)
    for i, delivery in enumerate(deliveries):
        kind, body = json.loads(delivery)
        if kind == "view":
            p.obj(body.get("view"))["id"] = f"V{i}"  # each a submission of its own
        raw, content_type = _signed_request(kind, body)
        r = await ws.drive.post(raw, content_type, signed=sign(raw))
        assert r.status < 500, (r.status, r.body, raw[:300])
        assert "Traceback" not in r.body
    await swept(ws)
    assert await count(ws, Request) == 0
    assert await count(ws, Case) <= sum(1 for d in deliveries if '"view"' in d)  # a valid form
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert not errors, errors[0].getMessage()


async def _post_teams(w: TeamsWorld, body: Any) -> tuple[int, str]:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{w.base}/api/messages",
            data=json.dumps(body),
            headers={"Content-Type": "application/json"},
        ) as r:
            return r.status, await r.text()


async def test_fuzzed_teams_activities_get_no_5xx(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with teams_world(sqlite_url) as w:
        base = w.personal(ALEX, "case status C-1")
        fields = sorted(base)

        @st.composite
        def activity(draw: st.DrawFn) -> str:
            body = copy.deepcopy(base)
            body["id"] = f"act-fuzz-{draw(st.integers(0, 10**9))}"
            for _ in range(draw(st.integers(1, 3))):
                body[draw(st.sampled_from(fields))] = draw(JSON_VALUES)
            return json.dumps(body)

        caplog.set_level(logging.ERROR)
        started = time.monotonic()
        for raw in _examples(activity(), 120):
            status, text = await _post_teams(w, json.loads(raw))
            assert status < 500, (status, text, raw[:300])
            assert "Traceback" not in text
        await w.app.inbox.settled()
        assert time.monotonic() - started < 120
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
        assert not errors, errors[0].getMessage()
