"""The lean reference for `bench/e2e.py`: what an ask costs done as plainly as it can be.

A slack-bolt app (`process_before_response=True`, as ownit runs it) on aiohttp: a signed
`/case ask C-n <@U…> question by 4h` is parsed with a regular expression, written in one asyncpg
transaction (the request, its three ladder steps, one outbox row), acknowledged, and then the DM
goes to the colleague (`chat.postMessage`) and the outbox row is marked sent. No pacing, no
policy, no case, no card: the floor under what ownit does, on the same machine in the same run.

    python bench/lean.py PORT DATABASE_URL SLACK_API_URL
"""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

ASK = re.compile(r"^ask (C-\d+) <@(\w+)(?:\|[^>]*)?> (.+?) by (\S+)$")
SCHEMA = """
CREATE TABLE IF NOT EXISTS lean_request (
    id bigserial PRIMARY KEY, case_key text NOT NULL, asker text NOT NULL, target text NOT NULL,
    question text NOT NULL, due_at timestamptz NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS lean_step (
    id bigserial PRIMARY KEY, request_id bigint NOT NULL REFERENCES lean_request(id),
    kind text NOT NULL, due_at timestamptz NOT NULL, done boolean NOT NULL DEFAULT false);
CREATE INDEX IF NOT EXISTS lean_step_due ON lean_step (done, due_at);
CREATE TABLE IF NOT EXISTS lean_outbox (
    id bigserial PRIMARY KEY, request_id bigint NOT NULL REFERENCES lean_request(id),
    channel text NOT NULL, text text NOT NULL, status text NOT NULL DEFAULT 'pending');
"""


def serve(port: int, database: str, slack: str) -> None:
    state: dict[str, Any] = {}

    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token="xoxb-lean")

    bolt = AsyncApp(
        signing_secret=sys.argv[4] if len(sys.argv) > 4 else "",
        authorize=authorize,
        process_before_response=True,
    )

    @bolt.command("/case")
    async def case(ack: Any, command: dict[str, Any]) -> None:
        found = ASK.match(str(command.get("text") or "").strip())
        if found is None:
            await ack()
            return
        case_key, target, question, _by = found.groups()
        now = datetime.now(UTC)
        due = now + timedelta(hours=4)
        pool: asyncpg.Pool = state["pool"]
        text = f"<@{command['user_id']}> asks you, on {case_key}: {question}"
        async with pool.acquire() as conn, conn.transaction():
            request_id = await conn.fetchval(
                "INSERT INTO lean_request (case_key, asker, target, question, due_at, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                case_key, command["user_id"], target, question, due, now,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO lean_step (request_id, kind, due_at)"
                " SELECT $1, k, d FROM unnest($2::text[], $3::timestamptz[]) AS t(k, d)",
                request_id,
                ["nudge", "at_risk", "breach"],
                [now + timedelta(hours=1), now + timedelta(hours=3), due],
            )
            outbox_id = await conn.fetchval(
                "INSERT INTO lean_outbox (request_id, channel, text) VALUES ($1, $2, $3)"
                " RETURNING id",
                request_id, "D" + target, text,
            )  # fmt: skip
        await ack(f"Asked <@{target}> on {case_key}.")
        asyncio.get_running_loop().create_task(deliver(outbox_id, "D" + target, text))

    async def deliver(outbox_id: int, channel: str, text: str) -> None:
        http: aiohttp.ClientSession = state["http"]
        async with http.post(
            slack + "chat.postMessage",
            json={"channel": channel, "text": text},
            headers={"Authorization": "Bearer xoxb-lean"},
        ) as resp:
            await resp.read()
        sent = "UPDATE lean_outbox SET status = 'sent' WHERE id = $1"
        await state["pool"].execute(sent, outbox_id)

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def start(app: web.Application) -> None:
        state["pool"] = await asyncpg.create_pool(database, min_size=2, max_size=10)
        await state["pool"].execute(SCHEMA)
        state["http"] = aiohttp.ClientSession()

    async def stop(app: web.Application) -> None:
        await state["http"].close()
        await state["pool"].close()

    app = web.Application()
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post("/slack/events", events)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3])
