"""A fake Slack for tests: the Web API and `response_url` hooks, plus a signed-request driver.

`FakeSlack` is an aiohttp server on a free loopback port. It records every call, answers like
Slack (timestamps, DM channels, users from a small directory), and can be told to be slow, to
answer 429 with Retry-After, to fail with an error, or to drop the connection. File uploads work
as in Slack's three steps (files.getUploadURLExternal gives an upload URL on this server, the bytes
are POSTed there, files.completeUploadExternal shares them into a channel): see `uploads` and
`files_in`; the upload step is the method "upload" for the knobs and in `calls`. `Workspace` starts
ownit's real web server against it and sends slash commands, button clicks, modal submissions and
events signed with Slack's v0 algorithm, as Slack does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientSession, WSMsgType, web

TEAM = "T0OWNIT"
BOT_USER = "UBOT"
BOT_ID = "BBOT"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

# Slack users for the example organisation (ownit/org.example.yaml), linked by e-mail.
PEOPLE = {
    "alex": ("UALEX", "Alex Advisor", "Europe/London"),
    "jo": ("UJO", "Jo Success", "Europe/London"),
    "sam": ("USAM", "Sam Support-Lead", "Europe/London"),
    "dana": ("UDANA", "Dana Billing", "Europe/London"),
    "bo": ("UBO", "Bo Billing", "Europe/London"),
    "morgan": ("UMORGAN", "Morgan Finance-Lead", "Europe/London"),
    "kenji": ("UKENJI", "Kenji Engineer", "Asia/Tokyo"),
    "lee": ("ULEE", "Lee Engineering-Lead", "Asia/Tokyo"),
}


def uid(handle: str) -> str:
    return PEOPLE[handle][0]


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class Trouble:
    kind: str  # "429", "error", "drop"
    times: int
    retry_after: int = 1
    error: str = "internal_error"
    when: Callable[[dict[str, Any]], bool] | None = None  # only the calls of these arguments


@dataclass
class Upload:
    """A file on its way: getUploadURLExternal, then the bytes, then completeUploadExternal."""

    file_id: str
    filename: str
    length: int
    alt_txt: str | None = None
    data: bytes | None = None  # set by the POST to the upload URL
    completed: bool = False  # set by files.completeUploadExternal
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    delay: float = 0.0
    delays: dict[str, float] = field(default_factory=dict)
    refuse_channels: set[str] = field(default_factory=set)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _troubles: dict[str, list[Trouble]] = field(default_factory=dict)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    port: int = 0
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    socket_replies: list[dict[str, Any]] = field(default_factory=list)
    uploads: dict[str, Upload] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for handle, (user_id, name, tz) in PEOPLE.items():
            self.users.setdefault(
                user_id,
                {
                    "id": user_id,
                    "name": handle,
                    "real_name": name,
                    "tz": tz,
                    "is_bot": False,
                    "profile": {
                        "real_name": name,
                        "display_name": handle,
                        "email": f"{handle}@example.com",
                    },
                },
            )

    # ----------------------------------------------------------------------- server

    async def start(self, port: int = 0) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/hooks/{hook}", self._hook)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def env(self, **extra: str) -> dict[str, str]:
        """The settings of an ownit that talks to this fake (HTTP mode, signed requests)."""
        return {
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": self.url,
            **extra,
        }

    def hook_url(self, name: str = "cmd") -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{name}"

    # ----------------------------------------------------------------------- knobs

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        self._troubles.setdefault(method, []).append(Trouble("429", times, retry_after))

    def fail(
        self,
        method: str,
        times: int = 1,
        error: str = "internal_error",
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        trouble = Trouble("error", times, error=error, when=when)
        self._troubles.setdefault(method, []).append(trouble)

    def drop(self, method: str, times: int = 1) -> None:
        self._troubles.setdefault(method, []).append(Trouble("drop", times))

    def _trouble(self, method: str, args: dict[str, Any]) -> Trouble | None:
        queue = self._troubles.get(method) or []
        queue[:] = [t for t in queue if t.times > 0]
        for t in queue:
            if t.when is None or t.when(args):
                t.times -= 1
                return t
        return None

    # ----------------------------------------------------------------------- reading

    def of(self, method: str, **match: Any) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method
            and c.status == 200
            and all(c.args.get(k) == v for k, v in match.items())
        ]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        *,
        count: int = 1,
        within: float = 10.0,
        **match: Any,
    ) -> list[Call]:
        deadline = time.monotonic() + within
        while True:
            found = [c for c in self.of(method, **match) if predicate is None or predicate(c)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = [(c.method, text_of(c)[:80]) for c in self.calls[-15:]]
                raise AssertionError(f"no {count}× {method} {match} within {within}s; {seen}")
            await asyncio.sleep(0.05)

    def dms_to(self, handle: str) -> list[Call]:
        return self.of("chat.postMessage", channel="D" + uid(handle))

    def files_in(self, channel: str) -> list[Upload]:
        """Files whose upload was completed into this channel, oldest first."""
        return [u for u in self.uploads.values() if u.completed and u.channel == channel]

    # ----------------------------------------------------------------------- handlers

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                args.update(json.loads(raw))
            else:
                for k, v in urllib.parse.parse_qsl(raw.decode()):
                    args[k] = json.loads(v) if v[:1] in "[{" else v
        return args

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args = await self._args(request)
        call = Call(method, args, time.monotonic())
        self.calls.append(call)
        troubled = await self._troubled(method, call, request)
        if troubled is not None:
            return troubled
        return web.json_response(self._answer(method, args))

    async def _troubled(
        self, method: str, call: Call, request: web.Request
    ) -> web.StreamResponse | None:
        """The delay and any trouble set for this method: the response to give, or None."""
        delay = self.delays.get(method, self.delay)
        if delay:
            await asyncio.sleep(delay)
        trouble = self._trouble(method, call.args)
        if trouble is not None and trouble.kind == "429":
            call.status = 429
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(trouble.retry_after)},
            )
        if trouble is not None and trouble.kind == "drop":
            call.status = 0
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if trouble is not None:
            call.status = 500
            return web.json_response({"ok": False, "error": trouble.error})
        return None

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        """The upload URL of files.getUploadURLExternal: stores the POSTed bytes."""
        file_id = request.match_info["file_id"]
        data = await request.read()
        call = Call("upload", {"file_id": file_id, "length": len(data)}, time.monotonic())
        self.calls.append(call)
        troubled = await self._troubled("upload", call, request)
        if troubled is not None:
            return troubled
        upload = self.uploads.get(file_id)
        if upload is None or upload.completed:
            call.status = 404
            return web.Response(status=404, text="Not Found")
        upload.data = data
        return web.Response(text=f"OK - {len(data)}")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: ownit connects here; envelopes go out, acknowledgements come back."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {}})
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.socket_replies.append(json.loads(msg.data))
        return ws

    async def envelope(
        self, kind: str, payload: dict[str, Any], envelope_id: str
    ) -> dict[str, Any]:
        """Send one Socket Mode envelope and wait for ownit's acknowledgement of it."""
        for _ in range(200):
            if self.sockets:
                break
            await asyncio.sleep(0.05)
        await self.sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "accepts_response_payload": kind != "events_api",
                "payload": payload,
            }
        )
        for _ in range(100):
            for reply in self.socket_replies:
                if reply.get("envelope_id") == envelope_id:
                    return reply
            await asyncio.sleep(0.03)
        raise AssertionError(f"envelope {envelope_id} was not acknowledged within 3 s")

    async def _hook(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read() or b"{}")
        self.calls.append(Call("response_url", {"hook": request.match_info["hook"], **body}, 0))
        return web.Response(text="ok")

    def _next_ts(self) -> str:
        return f"{1_790_000_000 + next(self._ts)}.000100"

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        match method:
            case "auth.test":
                return {
                    "ok": True,
                    "url": "https://acme.slack.com/",
                    "team": "Acme",
                    "user": "ownit",
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "bot_id": BOT_ID,
                }
            case "chat.postMessage":
                channel = str(args.get("channel"))
                if channel in self.refuse_channels:
                    return {"ok": False, "error": "not_in_channel"}
                ts = self._next_ts()
                self.messages[(channel, ts)] = args
                return {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts, **args}}
            case "chat.update":
                key = (str(args.get("channel")), str(args.get("ts")))
                if key not in self.messages:
                    return {"ok": False, "error": "message_not_found"}
                self.messages[key] = args
                return {"ok": True, "channel": key[0], "ts": key[1]}
            case "chat.postEphemeral":
                return {"ok": True, "message_ts": self._next_ts()}
            case "conversations.open":
                return {"ok": True, "channel": {"id": "D" + str(args.get("users"))}}
            case "conversations.join":
                channel = str(args.get("channel"))
                if channel.startswith("G"):
                    return {"ok": False, "error": "method_not_supported_for_channel_type"}
                self.refuse_channels.discard(channel)
                return {"ok": True, "channel": {"id": channel}}
            case "users.info":
                user = self.users.get(str(args.get("user")))
                if user is None:
                    return {"ok": False, "error": "user_not_found"}
                return {"ok": True, "user": user}
            case "apps.connections.open":
                return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
            case "users.lookupByEmail":
                email = str(args.get("email")).lower()
                for user in self.users.values():
                    if str(user.get("profile", {}).get("email", "")).lower() == email:
                        return {"ok": True, "user": user}
                return {"ok": False, "error": "users_not_found"}
            case "files.getUploadURLExternal":
                return self._upload_url(args)
            case "files.completeUploadExternal":
                return self._complete_upload(args)
            case "views.open" | "views.publish" | "views.update" | "views.push":
                view = {"id": f"V{next(self._ts)}", **(args.get("view") or {})}
                return {"ok": True, "view": view}
        return {"ok": True}

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = args.get("filename")
        try:
            length = int(args.get("length", ""))
        except ValueError:
            length = 0
        if not filename or length <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ts):08d}"
        alt = args.get("alt_txt")
        self.uploads[file_id] = Upload(file_id, str(filename), length, str(alt) if alt else None)
        return {
            "ok": True,
            "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}",
            "file_id": file_id,
        }

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if isinstance(files, str):  # the SDK sends it JSON-encoded, in the query string
            try:
                files = json.loads(files)
            except ValueError:
                return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        channel = args.get("channel_id")
        if channel is not None and str(channel) in self.refuse_channels:
            return {"ok": False, "error": "not_in_channel"}
        found: list[Upload] = []
        for f in files:
            upload = self.uploads.get(str(f.get("id"))) if isinstance(f, dict) else None
            if upload is None or upload.completed or upload.data is None:
                return {"ok": False, "error": "file_not_found"}
            found.append(upload)
        answer = []
        for upload, f in zip(found, files, strict=True):
            upload.completed = True
            upload.title = str(f.get("title") or upload.filename)
            upload.channel = str(channel) if channel is not None else None
            upload.thread_ts = args.get("thread_ts")
            upload.initial_comment = args.get("initial_comment")
            answer.append(
                {
                    "id": upload.file_id,
                    "name": upload.filename,
                    "title": upload.title,
                    "size": len(upload.data or b""),
                    "channels": [upload.channel] if upload.channel else [],
                }
            )
        return {"ok": True, "files": answer}


def text_of(call: Call) -> str:
    """Everything a call would show: its text and the text of its blocks."""
    parts = [str(call.args.get("text") or "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and "text" in node:
                parts.append(str(node["text"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(call.args.get("blocks"))
    walk(call.args.get("view"))
    return "\n".join(parts)


def readable(text: str) -> str:
    """Text as a person would read it: zero-width spaces gone, entities decoded."""
    text = text.replace("\u200b", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def shown(call: Call) -> str:
    """What a call puts in front of a person, as they would read it."""
    return readable(text_of(call))


def buttons(call: Call) -> dict[str, dict[str, Any]]:
    out = {}
    for block in call.args.get("blocks") or []:
        if block.get("type") == "actions":
            for el in block["elements"]:
                out[el["action_id"]] = el
    return out


# --------------------------------------------------------------------------- signed requests


def sign(body: str, ts: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    base = f"v0:{ts}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Response:
    """What Slack got back (`status`, how fast: `seconds`) and what the person was shown: the
    acknowledgement's own text, or the answer posted to `response_url` after it (`body`)."""

    status: int
    body: str
    seconds: float
    ack: str = ""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}

    def text(self) -> str:
        data = self.json() if self.body.startswith("{") else {"text": self.body}
        return readable(text_of(Call("ack", data, 0)))


class Driver:
    """Sends Slack-shaped, signed requests to ownit's `POST /slack/events`."""

    def __init__(self, base: str, fake: FakeSlack) -> None:
        self.base = base
        self.fake = fake
        self.counter = itertools.count(1)
        self.session: ClientSession | None = None
        # Waits until ownit has handled what it acknowledged (set when it runs in this process).
        self.handled: Callable[[], Awaitable[None]] | None = None

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        signed: dict[str, str] | None = None,
    ) -> Response:
        if self.session is None:
            self.session = ClientSession()
        h = {"Content-Type": content_type, **(signed if signed is not None else sign(body))}
        h.update(headers or {})
        start = time.monotonic()
        async with self.session.post(f"{self.base}/slack/events", data=body, headers=h) as r:
            text = await r.text()
            return Response(r.status, text, time.monotonic() - start)

    def n(self) -> int:
        return next(self.counter)

    def command_body(self, who: str, text: str, channel: str = "CSUPPORT") -> str:
        n = self.n()
        return urllib.parse.urlencode(
            {
                "token": "legacy",
                "team_id": TEAM,
                "team_domain": "acme",
                "channel_id": channel,
                "channel_name": "support",
                "user_id": uid(who),
                "user_name": who,
                "command": "/case",
                "text": text,
                "api_app_id": "A0OWNIT",
                "response_url": self.fake.hook_url(f"cmd{n}"),
                "trigger_id": f"{n}.1.trigger{n}",
            }
        )

    async def command(
        self, who: str, text: str, channel: str = "CSUPPORT", *, answer: bool = True
    ) -> Response:
        """Run a slash command; with `answer`, wait for what the person is shown after an empty
        acknowledgement (the reply ownit posts to the command's `response_url`)."""
        body = self.command_body(who, text, channel)
        hook = urllib.parse.parse_qs(body)["response_url"][0].rsplit("/", 1)[-1]
        r = await self.post(body, "application/x-www-form-urlencoded")
        r.ack = r.body
        if not answer or r.status != 200 or r.body:
            return r
        shown: list[Call] = []
        if self.handled is not None:
            await self.handled()
            shown = self.fake.of("response_url", hook=hook)
        else:
            with contextlib.suppress(AssertionError):
                shown = await self.fake.wait_for("response_url", hook=hook, within=5)
        if shown:
            r.body = json.dumps({k: v for k, v in shown[0].args.items() if k != "hook"})
        return r

    async def interact(self, payload: dict[str, Any]) -> Response:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded")

    async def click(self, who: str, button: dict[str, Any], call: Call | None = None) -> Response:
        """Click a button of a message the bot posted (`call` is the chat.postMessage)."""
        n = self.n()
        channel = str(call.args.get("channel")) if call else None
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "acme"},
            "user": {"id": uid(who), "team_id": TEAM, "username": who},
            "api_app_id": "A0OWNIT",
            "trigger_id": f"{n}.2.trigger{n}",
            "response_url": self.fake.hook_url(f"act{n}"),
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": "b",
                    "value": button.get("value", ""),
                    "action_ts": f"{1_790_000_000 + n}.5",
                }
            ],
        }
        if channel:
            payload["channel"] = {"id": channel}
            payload["container"] = {"type": "message", "channel_id": channel}
        else:
            payload["container"] = {"type": "view", "view_id": "VHOME"}
        return await self.interact(payload)

    async def submit(
        self, who: str, view: dict[str, Any], values: dict[str, Any], view_id: str | None = None
    ) -> Response:
        """Submit a modal that ownit opened: `values` maps block ids to typed values."""
        state: dict[str, Any] = {}
        for block, value in values.items():
            if isinstance(value, dict):
                state[block] = {"value": value}
            else:
                state[block] = {"value": {"type": "plain_text_input", "value": value}}
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "acme"},
            "user": {"id": uid(who), "team_id": TEAM},
            "api_app_id": "A0OWNIT",
            "trigger_id": "t",
            "view": {
                **view,
                "id": view_id or f"VSUB{self.n()}",
                "state": {"values": state},
                "hash": "h1",
            },
        }
        return await self.interact(payload)

    def event_body(self, event: dict[str, Any], event_id: str | None = None) -> str:
        return json.dumps(
            {
                "token": "legacy",
                "team_id": TEAM,
                "api_app_id": "A0OWNIT",
                "type": "event_callback",
                "event_id": event_id or f"Ev{self.n():08d}",
                "event_time": int(datetime.now(UTC).timestamp()),
                "event": event,
                "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
            }
        )

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None
    ) -> Response:
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(
            self.event_body(event, event_id),
            "application/json",
            headers=headers if retry else None,
        )

    def message(
        self, who: str, text: str, channel: str, thread_ts: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        ev = {
            "type": "message",
            "user": uid(who),
            "text": text,
            "channel": channel,
            "ts": f"{1_790_100_000 + self.n()}.000200",
            "channel_type": "im" if channel.startswith("D") else "channel",
            **extra,
        }
        if thread_ts:
            ev["thread_ts"] = thread_ts
        return ev


# --------------------------------------------------------------------------- ownit against it


@dataclass
class Workspace:
    """ownit's real web server (Slack mounted) on a loopback port, talking to a FakeSlack."""

    fake: FakeSlack
    drive: Driver
    app: Any
    bot: Any
    runner: web.AppRunner

    async def stop(self) -> None:
        await self.drive.close()
        await self.runner.cleanup()
        await self.app.close()

    async def case_thread(self, case_id: int = 1) -> tuple[str, str]:
        """The channel and thread of a case's card, once it has been posted."""
        from storage.tables import Case

        for _ in range(200):
            async with self.app.db.reader() as s:
                case = await s.get(Case, case_id)
            if case is not None and case.thread and not case.thread.startswith("pending"):
                assert case.channel is not None
                return case.channel, case.thread
            await asyncio.sleep(0.05)
        raise AssertionError("no card")


START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 09:00 in London


async def count(ws: Workspace, table: type) -> int:
    """Rows in a table, as the workspace's ownit sees them."""
    from sqlmodel import func, select

    async with ws.app.db.reader() as s:
        return int((await s.exec(select(func.count()).select_from(table))).one())


async def until(check: Any, within: float = 15.0) -> None:
    """Wait for what ownit does in the background after its reply (`check` says when)."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "it never happened"
        await asyncio.sleep(0.05)


async def swept(ws: Workspace, case_id: int | None = None) -> None:
    """Until everything kept was handled and the card mirror ran a whole sync begun after that
    (redrawing `case_id`): what ownit was going to post or redraw by now, it has."""
    await ws.app.inbox.settled()
    mirror = ws.bot.mirror
    target = mirror.syncs_started + 1
    mirror.kick(case_id)

    async def done() -> bool:
        return bool(mirror.syncs_done >= target)

    await until(done)


async def start_ownit(
    db_url: str,
    fake: FakeSlack,
    *,
    ack_budget: float | None = None,
    start: datetime = START,
    inbox_workers: int | None = None,
    **env: str,
) -> Workspace:
    from bot.clock import SimClock
    from bot.runtime.app import Ownit, example_org_file
    from bot.runtime.config import load_settings
    from handlers.platforms import plugins
    from handlers.slack.adapter import SLACK_KEY
    from handlers.web import make_web_app

    values = {
        "DATABASE_URL": db_url,
        "OWNIT_ORG_FILE": str(example_org_file()),
        "OWNIT_TIMEZONE": "Europe/London",
        "OWNIT_CLOCK": "sim",
        **fake.env(**env),
    }
    settings = load_settings(**values)
    app = await Ownit.start(settings, simulated=True)
    assert isinstance(app.clock, SimClock)
    app.clock.start = start
    await app.clock.now()
    web_app = await make_web_app(app, plugins(settings))
    bot = web_app[SLACK_KEY]
    if ack_budget is not None:
        bot.ack_budget = ack_budget
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    if inbox_workers is not None:
        app.inbox.workers = inbox_workers
    app.run_background()
    drive = Driver(f"http://127.0.0.1:{port}", fake)
    drive.handled = app.inbox.settled if settings.handles else None  # else: wait for the answer
    return Workspace(fake, drive, app, bot, runner)
