"""A Teams world for tests: ownit's real web server with the Teams plugin, a fake Bot Connector,
and builders of activities shaped like the ones Teams posts to `/api/messages`."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.clock import SimClock
from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from bot.runtime.delivery import Channel
from handlers.teams.adapter import TEAMS_KEY, Teams, plugin_with
from handlers.web import make_web_app
from tests.fakes.bot_connector import FakeBotConnector, Member

TENANT = "tenant-1"
BOT = {"id": "28:ownit-bot", "name": "ownit"}
GENERAL = "19:general@thread.tacv2"

ALEX = Member("29:alex", "Alex Advisor", "aad-alex", "alex@example.com")
DANA = Member("29:dana", "Dana Billing", "aad-dana", "dana@example.com")
MORGAN = Member("29:morgan", "Morgan Finance-Lead", "aad-morgan", "morgan@example.com")
BO = Member("29:bo", "Bo Billing", "aad-bo", "bo@example.com")
RIVER = Member("29:river", "River New", "aad-river", "river@example.com")
SAM = Member("29:sam", "Sam Support-Lead", "aad-sam", "sam@example.com")
KENJI = Member("29:kenji", "Kenji Engineer", "aad-kenji", "kenji@example.com")


def personal_conversation(member: Member) -> str:
    return f"a:personal-{member.id}"


class TeamsWorld:
    def __init__(self, app: Ownit, teams: Teams, fake: FakeBotConnector, base: str) -> None:
        self.app = app
        self.teams = teams
        self.fake = fake
        self.base = base
        self._ids = itertools.count(1)

    def next_id(self) -> str:
        return f"act-{next(self._ids)}"

    # ------------------------------------------------------------------ activities

    def _common(self, member: Member, conversation: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.next_id(),
            "channelId": "msteams",
            "serviceUrl": self.fake.url,
            "timestamp": datetime.now(UTC).isoformat(),
            "from": member.account(),
            "recipient": dict(BOT),
            "conversation": conversation,
            "channelData": {"tenant": {"id": TENANT}},
            "locale": "en-GB",
        }

    def personal(self, member: Member, text: str) -> dict[str, Any]:
        act = self._common(
            member,
            {
                "id": personal_conversation(member),
                "conversationType": "personal",
                "tenantId": TENANT,
            },
        )
        act.update(
            type="message",
            text=text,
            textFormat="plain",
            entities=[{"type": "clientInfo", "locale": "en-GB", "timezone": "Europe/London"}],
        )
        return act

    def channel(
        self, member: Member, text: str, *, root: str, mentions: tuple[Member, ...] = ()
    ) -> dict[str, Any]:
        """A channel post that @mentions the bot (and maybe people); `root` is the thread."""
        act = self._common(
            member,
            {
                "id": f"{GENERAL};messageid={root}",
                "conversationType": "channel",
                "isGroup": True,
                "tenantId": TENANT,
            },
        )
        act["channelData"].update(
            {
                "teamsChannelId": GENERAL,
                "teamsTeamId": "19:team@thread.tacv2",
                "channel": {"id": GENERAL},
                "team": {"id": "19:team@thread.tacv2"},
            }
        )
        entities: list[dict[str, Any]] = [
            {"type": "mention", "text": "<at>ownit</at>", "mentioned": dict(BOT)}
        ]
        for m in mentions:
            entities.append(
                {
                    "type": "mention",
                    "text": f"<at>{m.name}</at>",
                    "mentioned": {"id": m.id, "name": m.name},
                }
            )
        act.update(
            type="message", text=f"<at>ownit</at> {text}", textFormat="plain", entities=entities
        )
        return act

    def invoke(
        self, member: Member, data: dict[str, Any], *, conversation: str | None = None
    ) -> dict[str, Any]:
        """A press of an `Action.Execute` button (inputs are merged into `data`, as Teams does)."""
        conv = conversation or personal_conversation(member)
        act = self._common(
            member,
            {
                "id": conv,
                "conversationType": "channel" if conv.startswith("19:") else "personal",
                "tenantId": TENANT,
            },
        )
        act.update(
            type="invoke",
            name="adaptiveCard/action",
            value={
                "action": {"type": "Action.Execute", "verb": data.get("ownit"), "data": data},
                "trigger": "manual",
            },
        )
        return act

    def install(self, member: Member, action: str = "add") -> dict[str, Any]:
        act = self._common(
            member,
            {
                "id": personal_conversation(member),
                "conversationType": "personal",
                "tenantId": TENANT,
            },
        )
        act.update(type="installationUpdate", action=action)
        return act

    # ------------------------------------------------------------------ talking to ownit

    async def post(
        self,
        activity: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        settle: bool = True,
    ) -> tuple[int, Any]:
        """Post an activity as Teams does; with `settle`, return once what was kept is handled."""
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{self.base}/api/messages", json=activity, headers=headers or {}
            ) as resp:
                body = await resp.json() if resp.content_type == "application/json" else None
                status = resp.status
        if settle:
            await self.app.inbox.settled()
        return status, body

    async def settle(self) -> None:
        await self.app.settle()


@asynccontextmanager
async def teams_world(
    db_url: str,
    *,
    app_id: str | None = None,
    extra: list[Channel] | None = None,
    fake: FakeBotConnector | None = None,
    inbox_workers: int | None = None,
    **more_env: str,
) -> AsyncIterator[TeamsWorld]:
    """ownit with the example organisation and a simulated clock at Mon 23 Nov 2026 09:00 London.

    Its inbox runs (with `inbox_workers` workers: 0 keeps what arrives and handles nothing, as a
    replica about to die); the scheduler and delivery run when a test settles. A `fake` connector
    passed in is shared with another world and left running.
    """
    own_fake = fake is None
    fake = fake or FakeBotConnector()
    for m in (ALEX, DANA, MORGAN, BO, RIVER, SAM, KENJI):
        fake.add(m)
    if own_fake:
        await fake.start()
    env: dict[str, Any] = {
        "DATABASE_URL": db_url,
        "OWNIT_ORG_FILE": str(example_org_file()),
        "OWNIT_TIMEZONE": "Europe/London",
        **more_env,
    }
    if app_id:
        env.update(MICROSOFT_APP_ID=app_id, MICROSOFT_APP_PASSWORD="secret")
    settings = load_settings(**env)
    app = await Ownit.start(settings, simulated=True, channels=[])
    assert isinstance(app.clock, SimClock)
    app.clock.start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    await app.clock.now()
    web_app = await make_web_app(app, [plugin_with(base_delay=0.01, max_delay=0.05)])
    app.deliverer.channels.extend(extra or [])
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if inbox_workers is not None:
        app.inbox.workers = inbox_workers
    app.tasks.append(asyncio.create_task(app.inbox.run(app.stop), name="inbox"))
    world = TeamsWorld(app, web_app[TEAMS_KEY], fake, f"http://127.0.0.1:{port}")
    try:
        yield world
    finally:
        await runner.cleanup()
        await app.close()
        if own_fake:
            await fake.stop()
