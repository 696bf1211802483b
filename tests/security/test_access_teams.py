"""The access model through Teams: the same rule as Slack and the console, now that Teams has a
visibility check at all; guests and other tenants get help or nothing (docs/SECURITY.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes.bot_connector import Member
from tests.security.support import NO_CASE, NO_REQUEST, NOT_A_PERSON, counts
from tests.teams_support import (
    ALEX,
    DANA,
    KENJI,
    RIVER,
    TENANT,
    TeamsWorld,
    personal_conversation,
    teams_world,
)


@dataclass
class Guest(Member):
    def profile(self) -> dict[str, Any]:
        return {**super().profile(), "userRole": "guest"}


GUEST = Guest("29:gus", "Gus Guest", "aad-gus", "gus@partner.example")


async def _say(w: TeamsWorld, member: Member, text: str) -> str:
    before = len(w.fake.texts(personal_conversation(member)))
    await w.post(w.personal(member, text))
    return "\n".join(w.fake.texts(personal_conversation(member))[before:])


async def _story(w: TeamsWorld) -> None:
    await _say(w, ALEX, "case open Acme: invoice wrong")
    await _say(w, ALEX, "case ask C-1 @dana refund done? by 16:00")


async def test_a_case_is_hidden_from_whoever_is_not_on_it(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        await _story(w)
        before = await counts(w.app)
        out = await _say(w, KENJI, "case status C-1")
        assert NO_CASE in out and "invoice wrong" not in out
        assert NO_REQUEST in await _say(w, KENJI, "case answer R-1 done")
        assert await counts(w.app) == before
        out = await _say(w, DANA, "case status C-1")
        assert "refund done?" in out and "Timeline" not in out
        assert "Timeline" in await _say(w, ALEX, "case status C-1")


async def test_a_guest_gets_help_only_and_no_person(sqlite_url: str) -> None:
    async with teams_world(sqlite_url) as w:
        w.fake.add(GUEST)
        await _story(w)
        before = await counts(w.app)
        for text in ("case open Beta: x", "case status C-1"):
            out = await _say(w, GUEST, text)
            assert NOT_A_PERSON in out and "open <customer>" in out, out  # Teams words, no slash
        assert await counts(w.app) == before


async def test_a_full_member_of_the_tenant_becomes_a_person(sqlite_url: str) -> None:
    async with teams_world(sqlite_url, MICROSOFT_APP_TENANT_ID=TENANT) as w:
        await _story(w)
        assert NO_CASE in await _say(w, RIVER, "case status C-1")
        out = await _say(w, RIVER, "case open Beta: login broken")
        assert "C-2 opened for Beta" in out


async def test_another_tenant_is_refused(sqlite_url: str) -> None:
    async with teams_world(sqlite_url, MICROSOFT_APP_TENANT_ID="tenant-ours") as w:
        before = await counts(w.app)
        out = await _say(w, RIVER, "case open Beta: x")
        assert "not the organisation's own" in out
        assert await counts(w.app) == before
