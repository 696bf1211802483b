"""A fake Bot Connector service: the Teams side of every outgoing call, on a loopback port.

It records every call to `/v3/conversations/…`, answers member lookups from a small directory,
creates personal conversations (or refuses them, as Teams does when the app is not installed for
that user), and can answer the next calls with 429 or 5xx to exercise retries.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web


@dataclass
class Call:
    method: str
    path: str
    conversation: str
    activity_id: str | None
    body: Any
    headers: dict[str, str]
    status: int


@dataclass
class Member:
    id: str
    name: str
    aad: str
    email: str

    def account(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "aadObjectId": self.aad}

    def profile(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "aadObjectId": self.aad,
            "email": self.email,
            "userPrincipalName": self.email,
            "givenName": self.name.split()[0],
        }


@dataclass
class FakeBotConnector:
    members: dict[str, Member] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: list[tuple[int, float | None]] = field(default_factory=list)
    not_installed: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)  # conversations the bot was removed from
    url: str = ""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _runner: web.AppRunner | None = None

    def add(self, member: Member) -> Member:
        self.members[member.id] = member
        return member

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        self.faults.extend([(status, retry_after)] * times)

    # ------------------------------------------------------------------ reading what happened

    def posts(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """Activities successfully posted (sent or replied), oldest first."""
        return [
            c.body
            for c in self.calls
            if c.method == "POST"
            and c.status == 200
            and "/activities" in c.path
            and (conversation is None or c.conversation == conversation)
        ]

    def updates(self) -> list[Call]:
        return [c for c in self.calls if c.method == "PUT" and c.status == 200]

    @staticmethod
    def text_of(activity: dict[str, Any]) -> str:
        """Everything a person reads in a posted activity: its text and its cards' text."""
        parts = [activity.get("text") or ""]
        for att in activity.get("attachments") or []:
            parts.append(_card_text(att.get("content") or {}))
        return " ".join(p for p in parts if p)

    def texts(self, conversation: str | None = None) -> list[str]:
        return [self.text_of(a) for a in self.posts(conversation)]

    async def wait_for(
        self, needle: str, conversation: str | None = None, *, within: float = 10.0
    ) -> dict[str, Any]:
        """The first posted activity whose text holds `needle` (delivery runs in the background)."""
        deadline = time.monotonic() + within
        while True:
            for act in self.posts(conversation):
                if needle in self.text_of(act):
                    return act
            if time.monotonic() > deadline:
                raise AssertionError(f"no post with {needle!r} in {conversation}: {self.texts()}")
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ the server

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/v3/conversations", self._conversations)
        app.router.add_route("*", "/v3/conversations/{cid}/activities", self._activities)
        app.router.add_route("*", "/v3/conversations/{cid}/activities/{aid}", self._activity)
        app.router.add_route("*", "/v3/conversations/{cid}/members/{mid}", self._member)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _record(
        self, request: web.Request, status: int, aid: str | None = None
    ) -> tuple[Call, web.Response | None]:
        body = await request.json() if request.can_read_body else None
        call = Call(
            request.method,
            request.path,
            unquote(request.match_info.get("cid", "")),
            aid,
            body,
            dict(request.headers),
            status,
        )
        self.calls.append(call)
        if self.faults:
            fault, retry_after = self.faults.pop(0)
            call.status = fault
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return call, web.json_response(
                {"error": {"code": "Throttled", "message": "slow down"}},
                status=fault,
                headers=headers,
            )
        return call, None

    async def _conversations(self, request: web.Request) -> web.Response:
        call, fault = await self._record(request, 200)
        if fault:
            return fault
        members = (call.body or {}).get("members") or []
        member_id = members[0].get("id") if members else None
        if not member_id or member_id in self.not_installed:
            call.status = 403
            return web.json_response(
                {"error": {"code": "Forbidden", "message": "app not installed"}}, status=403
            )
        return web.json_response({"id": f"a:personal-{member_id}", "activityId": None})

    async def _activities(self, request: web.Request) -> web.Response:
        call, fault = await self._record(request, 200)
        if fault:
            return fault
        if call.conversation in self.gone:
            call.status = 403
            return web.json_response({"error": {"code": "BotNotInConversationRoster"}}, status=403)
        return web.json_response({"id": f"m{next(self._ids)}"})

    async def _activity(self, request: web.Request) -> web.Response:
        aid = unquote(request.match_info["aid"])
        _call, fault = await self._record(request, 200, aid)
        if fault:
            return fault
        if request.method == "PUT":
            return web.json_response({"id": aid})
        return web.json_response({"id": f"m{next(self._ids)}"})

    async def _member(self, request: web.Request) -> web.Response:
        call, fault = await self._record(request, 200)
        if fault:
            return fault
        mid = unquote(request.match_info["mid"])
        member = self.members.get(mid) or next(
            (m for m in self.members.values() if m.aad == mid), None
        )
        if member is None:
            call.status = 404
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        return web.json_response(member.profile())


def _card_text(node: Any) -> str:
    if isinstance(node, list):
        return " ".join(t for t in (_card_text(n) for n in node) if t)
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "RichTextBlock":
        return "".join(str(run.get("text", "")) for run in node.get("inlines") or [])
    parts = [node[k] for k in ("text", "title") if isinstance(node.get(k), str)]
    parts += [_card_text(node[k]) for k in ("body", "actions", "card") if k in node]
    return " ".join(p for p in parts if p)
