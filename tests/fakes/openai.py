"""A fake OpenAI-compatible server for tests: chat completions with structured output.

`FakeOpenAI` is an aiohttp server on a free loopback port that the real `openai` client reaches
through `OPENAI_BASE_URL` (`env()`), or as Azure OpenAI (`azure_env()`, the deployment path). It
records every request (`requests`, `prompts()`), answers with what a test scripted (`answer`),
else with the smallest value of the requested JSON schema, and can answer 429 or 500, slowly
(beyond the client's timeout), with malformed JSON, or with a refusal.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

KEY = "sk-test-0000"


@dataclass
class Received:
    """One request the server got."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def text(self) -> str:
        """Every message's content, joined: what the model would read."""
        return "\n".join(str(m.get("content") or "") for m in self.body.get("messages", []))

    def content(self, role: str) -> str:
        return "\n".join(
            str(m.get("content") or "") for m in self.body.get("messages", []) if m["role"] == role
        )


@dataclass
class Turn:
    """A scripted answer: `kind` is answer, status, slow, malformed or refusal."""

    kind: str
    value: Any = None
    after: float = 0.0  # seconds the answer takes


def smallest(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """The plainest value of a JSON schema: what the fake says when nothing was scripted."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return smallest(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return smallest(schema["anyOf"][0], defs)
    kind = schema.get("type")
    if kind == "object":
        return {k: smallest(v, defs) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return []
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": "An ordinary answer.", "integer": 0, "number": 0, "boolean": False}.get(
        str(kind)
    )


@dataclass
class FakeOpenAI:
    requests: list[Received] = field(default_factory=list)
    script: deque[Turn] = field(default_factory=deque)
    port: int = 0
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._complete)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def env(self, **extra: str) -> dict[str, str]:
        """Settings that point ownit's model at this server."""
        return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": self.url, **extra}

    def azure_env(self, **extra: str) -> dict[str, str]:
        return {
            "AZURE_OPENAI_ENDPOINT": f"http://127.0.0.1:{self.port}",
            "AZURE_OPENAI_API_KEY": KEY,
            **extra,
        }

    # ------------------------------------------------------------------ the script

    def answer(self, value: dict[str, Any], times: int = 1, after: float = 0.0) -> None:
        """Answer the next call(s) with this JSON object as the model's content (`after` seconds
        of thinking)."""
        self.script.extend(Turn("answer", value, after) for _ in range(times))

    def fail(self, status: int, times: int = 1) -> None:
        self.script.extend(Turn("status", status) for _ in range(times))

    def slow(self, seconds: float = 60.0, times: int = 1) -> None:
        """Answer only after `seconds` (or never, if the test ends first)."""
        self.script.extend(Turn("slow", seconds) for _ in range(times))

    def hostile(self, text: str, times: int = 1) -> None:
        """Answer with `text` in every text field of the requested schema (markup, mentions,
        instructions: whatever a test wants the model to have written)."""
        self.script.extend(Turn("hostile", text) for _ in range(times))

    def malformed(self, times: int = 1) -> None:
        self.script.extend(Turn("malformed") for _ in range(times))

    def refuse(self, why: str = "I can't help with that.", times: int = 1) -> None:
        self.script.extend(Turn("refusal", why) for _ in range(times))

    # ------------------------------------------------------------------ what was asked

    def prompts(self) -> list[str]:
        return [r.text for r in self.requests]

    async def wait_for(self, count: int) -> list[Received]:
        """Wait until `count` requests arrived (the event, not a fixed sleep)."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return self.requests

    # ------------------------------------------------------------------ the server

    async def _complete(self, request: web.Request) -> web.Response:
        body = await request.json()
        got = Received(request.path, body, dict(request.headers))
        async with self._arrived:
            self.requests.append(got)
            self._arrived.notify_all()
        turn = self.script.popleft() if self.script else Turn("answer")
        if turn.kind == "status":
            error = {"error": {"message": f"fake {turn.value}", "type": "fake", "code": None}}
            headers = {"retry-after-ms": "10"} if turn.value == 429 else {}
            return web.json_response(error, status=turn.value, headers=headers)
        wait = turn.value if turn.kind == "slow" else turn.after
        if wait:
            try:
                await asyncio.wait_for(self._closing.wait(), wait)
            except TimeoutError:
                pass
        if turn.kind == "malformed":
            return self._completion(body, '{"text": "half an answer', None)
        if turn.kind == "refusal":
            return self._completion(body, None, turn.value)
        value = turn.value if turn.kind == "answer" else None
        if value is None:
            schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
            value = smallest(schema) if schema else "pong"
            if turn.kind == "hostile" and isinstance(value, dict):
                value = {k: turn.value if isinstance(v, str) else v for k, v in value.items()}
        content = value if isinstance(value, str) else json.dumps(value)
        return self._completion(body, content, None)

    def _completion(self, body: dict[str, Any], content: str | None, refusal: str | None) -> Any:
        asked = sum(len(str(m.get("content") or "")) for m in body.get("messages", []))
        prompt_tokens, completion_tokens = asked // 4 + 1, len(content or refusal or "") // 4 + 1
        return web.json_response(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": refusal},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )
