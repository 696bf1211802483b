"""Every endpoint against malformed, oversized and unsigned input: a 4xx, authenticity checked
before the body is read further, never a 5xx, never a traceback, and nothing kept or written."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Any

import aiohttp

from storage.tables import Case, InboxItem
from tests.fakes.slack_api import SECRET, TEAM, Workspace, count, swept, uid
from tests.teams_support import ALEX, teams_world

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
APP_ID = "00000000-0000-0000-0000-00000000abcd"


def signed(raw: bytes, ts: int | None = None) -> dict[str, str]:
    """Slack's signature over raw bytes (the test driver's `sign` takes text)."""
    stamp = str(int(time.time()) if ts is None else ts)
    digest = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + raw, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest.hexdigest()}"}


async def send(
    url: str, raw: bytes, headers: dict[str, str], method: str = "POST"
) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, url, data=raw, headers=headers) as r:
            return r.status, await r.text()


def clean(status: int, text: str) -> None:
    """A refusal on the HTTP level: a 4xx, and nothing of ownit's insides in it."""
    assert 400 <= status < 500, (status, text)
    assert "Traceback" not in text and 'File "' not in text and "Error" not in text


JUNK: list[tuple[str, bytes]] = [
    (FORM, b"\xff\xfe\xfa not utf-8"),
    (JSON, b"\xff{}"),
    (JSON, b"{not json"),
    (JSON, b'["a", "list"]'),
    (JSON, b"[" * 50_000),
    (JSON, b'{"n": ' + b"9" * 5000 + b"}"),
    (FORM, b"payload=%5B1%2C2%5D"),
    (FORM, b"payload=%7Bnot+json"),
    (FORM, b"payload=%22a+string%22"),
    (FORM, b"payload=" + urllib.parse.quote("[" * 5000).encode()),
    ("text/plain", b"{broken"),
    (JSON + "; charset=klingon", b'"x"'),
]


async def assert_nothing_kept(ws: Workspace) -> None:
    await swept(ws)
    assert await count(ws, Case) == 0
    assert await count(ws, InboxItem) == 0
    assert not ws.fake.of("response_url") and not ws.fake.of("chat.postMessage")


async def test_unsigned_junk_is_refused_before_it_is_read(ws: Workspace) -> None:
    url = f"{ws.drive.base}/slack/events"
    for content_type, raw in JUNK:
        status, text = await send(url, raw, {"Content-Type": content_type})
        clean(status, text)
        assert status == 401
        stale = signed(raw, ts=int(time.time()) - 301)
        status, text = await send(url, raw, {"Content-Type": content_type, **stale})
        assert status == 401 and json.loads(text) == {"error": "invalid request"}
    await assert_nothing_kept(ws)


async def test_signed_junk_is_a_bad_request(ws: Workspace) -> None:
    for content_type, raw in JUNK:
        status, text = await send(
            f"{ws.drive.base}/slack/events", raw, {"Content-Type": content_type, **signed(raw)}
        )
        clean(status, text)
        assert status == 400, raw[:80]
    await assert_nothing_kept(ws)


NOT_SIGNATURES: list[dict[str, str]] = [
    {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"},
    {"X-Slack-Request-Timestamp": "9" * 5000, "X-Slack-Signature": "v0=00"},
    {"X-Slack-Request-Timestamp": "-1", "X-Slack-Signature": "v0=00"},
    {"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": "v0=00"},
    {"X-Slack-Signature": "v0=00"},
    {"X-Slack-Request-Timestamp": str(int(time.time()))},
]


async def test_headers_that_are_not_a_signature(ws: Workspace) -> None:
    body = ws.drive.command_body("alex", "open Acme: invoice wrong").encode()
    for headers in NOT_SIGNATURES:
        status, text = await send(
            f"{ws.drive.base}/slack/events", body, {"Content-Type": FORM, **headers}
        )
        clean(status, text)
        assert status == 401
    await assert_nothing_kept(ws)


async def test_a_signature_that_is_not_ascii(ws: Workspace) -> None:
    body = ws.drive.command_body("alex", "open Acme: invoice wrong").encode()
    sig = signed(body)
    sig["X-Slack-Signature"] = "v0=é" + sig["X-Slack-Signature"][4:]
    raw_headers = [(k.encode(), v.encode()) for k, v in {"Content-Type": FORM, **sig}.items()]
    reader, writer = await _connect(ws.drive.base)
    try:
        head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        head += b"".join(k + b": " + v + b"\r\n" for k, v in raw_headers)
        head += b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        writer.write(head + body)
        answer = await reader.read()
    finally:
        writer.close()
    status = int(answer.split(b" ", 2)[1])
    clean(status, answer.decode(errors="replace"))
    await assert_nothing_kept(ws)


async def _connect(base: str) -> Any:
    import asyncio

    host, port = base.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def test_an_oversized_body_is_refused(ws: Workspace) -> None:
    raw = b"text=" + b"a" * (1024**2 + 10)
    status, text = await send(f"{ws.drive.base}/slack/events", raw, {"Content-Type": FORM})
    assert status == 413
    status, text = await send(
        f"{ws.drive.base}/slack/events", raw, {"Content-Type": FORM, **signed(raw)}
    )
    assert status == 413 and "Traceback" not in text
    await assert_nothing_kept(ws)


def _payload(payload: Any) -> bytes:
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


SHAPES: list[tuple[str, bytes]] = [
    (FORM, _payload({"type": "block_actions", "user": "alex", "actions": "ack"})),
    (FORM, _payload({"type": "block_actions", "actions": [1, "x", None]})),
    (
        FORM,
        _payload(
            {
                "type": "block_actions",
                "team": ["T"],
                "user": {"id": ["U"]},
                "actions": [{"action_id": "ownit_ack", "value": {"k": "R-1"}, "type": "button"}],
            }
        ),
    ),
    (FORM, _payload({"type": "view_submission", "view": "a view", "user": 7})),
    (FORM, _payload({"type": "view_submission", "view": {"callback_id": 5, "state": []}})),
    (FORM, _payload({"type": "shortcut", "callback_id": "open_case_from_message", "team": 1})),
    (JSON, json.dumps({"type": "event_callback", "event": "mention"}).encode()),
    (
        JSON,
        json.dumps(
            {
                "type": "event_callback",
                "team_id": TEAM,
                "event_id": {"x": 1},
                "authorizations": 5,
                "event": {"type": "app_mention", "user": ["U"], "text": {"t": 1}},
            }
        ).encode(),
    ),
    (
        JSON,
        json.dumps(
            {
                "type": "event_callback",
                "team_id": TEAM,
                "event_id": "Ev1",
                "event": {"type": "message", "user": uid("alex"), "channel_type": "im", "ts": 5},
            }
        ).encode(),
    ),
    (JSON, json.dumps({"type": "url_verification"}).encode()),
    (FORM, b"command=%2Fcase&text=%FF%FE"),
    (FORM, b"command=%2Fcase&text=" + urllib.parse.quote("x" * 20_000).encode()),
    (FORM, b"command=%2Fcase&team_id=&user_id=&text=status+C-1"),
]


async def test_signed_payloads_of_the_wrong_shape_get_no_5xx(ws: Workspace) -> None:
    for content_type, raw in SHAPES:
        status, text = await send(
            f"{ws.drive.base}/slack/events", raw, {"Content-Type": content_type, **signed(raw)}
        )
        assert status < 500, (status, text, raw[:200])
        assert "Traceback" not in text
    await swept(ws)
    assert await count(ws, Case) == 0


async def test_the_endpoint_answers_only_posts(ws: Workspace) -> None:
    status, text = await send(f"{ws.drive.base}/slack/events", b"", {}, method="GET")
    clean(status, text)
    assert status == 405


async def test_an_unsigned_certificate_check_is_answered_as_bolt_did(ws: Workspace) -> None:
    status, _ = await send(f"{ws.drive.base}/slack/events", b"ssl_check=1", {"Content-Type": FORM})
    assert status == 200
    await assert_nothing_kept(ws)


async def test_the_health_endpoints_refuse_what_they_do_not_serve(ws: Workspace) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        await _health(ws.drive.base, path)


async def _health(base: str, path: str) -> None:
    for method, raw in (("POST", b"\xff" * 100), ("PUT", b"{}"), ("DELETE", b"")):
        status, text = await send(f"{base}{path}", raw, {"Content-Type": JSON}, method=method)
        clean(status, text)
        assert status == 405
    status, text = await send(f"{base}{path}?%ff=%00&a=" + "b" * 4000, b"", {}, method="GET")
    assert status == 200 and "Traceback" not in text
    big = b"x" * (1024**2 + 10)
    status, _ = await send(f"{base}{path}", big, {"Content-Type": JSON}, method="GET")
    assert status < 500


async def test_unknown_paths_are_not_found(ws: Workspace) -> None:
    for path in ("/", "/slack", "/api/messages/../../etc/passwd", "/%ff%fe"):
        status, text = await send(f"{ws.drive.base}{path}", b"{}", {"Content-Type": JSON})
        clean(status, text)


TEAMS_JUNK: list[tuple[str, bytes, int]] = [
    (JSON, b"\xff\xfe not utf-8", 400),
    (JSON, b"{not json", 400),
    (JSON, b"[1, 2]", 400),
    (JSON, b'"a string"', 400),
    (JSON, b"[" * 50_000, 400),
    (JSON, b"{}", 400),
    (JSON, json.dumps({"type": 5, "conversation": "x", "serviceUrl": []}).encode(), 400),
    (JSON, json.dumps({"type": "message", "conversation": {"id": 1}}).encode(), 400),
    (JSON, json.dumps({"type": "message", "timestamp": "yesterday"}).encode(), 400),
    ("text/plain", b"hello", 415),
    (JSON, b"{" + b" " * (1024**2 + 10) + b"}", 413),
]


async def test_teams_junk_is_refused(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        for content_type, raw, expected in TEAMS_JUNK:
            headers = {"Content-Type": content_type}
            status, text = await send(f"{w.base}/api/messages", raw, headers)
            clean(status, text)
            assert status == expected, raw[:80]
        await w.app.inbox.settled()
        async with w.app.db.reader() as s:
            from sqlmodel import func, select

            kept = (await s.exec(select(func.count()).select_from(InboxItem))).one()
        assert kept == 0 and w.fake.calls == []


async def test_teams_wants_a_token_before_it_reads_the_body(sqlite_url: str) -> None:
    """With an app id, a request without a bearer token is refused whatever its body: the body
    is not read (junk gets the same 401 as a well-formed activity)."""
    async with teams_world(sqlite_url, app_id=APP_ID) as w:
        for header in (None, "Basic Zm9vOmJhcg==", "Bearer", "Bearer  ", "Token x"):
            headers = {"Content-Type": JSON}
            if header is not None:
                headers["Authorization"] = header
            activity = json.dumps(w.personal(ALEX, "hi")).encode()
            for raw in (b"\xff{not json", b"[" * 50_000, activity):
                status, text = await send(f"{w.base}/api/messages", raw, headers)
                clean(status, text)
                assert status == 401
        assert w.fake.calls == []


async def test_teams_checks_the_token_against_the_activity(sqlite_url: str) -> None:
    async with teams_world(sqlite_url, app_id=APP_ID) as w:
        headers = {"Content-Type": JSON, "Authorization": "Bearer a.b.c"}
        status, text = await send(f"{w.base}/api/messages", b"{not json", headers)
        clean(status, text)  # a token, so the body is read: it is not an activity
        assert status == 400
        raw = json.dumps(w.personal(ALEX, "case open Acme: x")).encode()
        status, text = await send(f"{w.base}/api/messages", raw, headers)
        clean(status, text)
        assert status == 401
