"""The access model through Slack: signed slash commands from people, strangers, guests, bots,
another workspace and no user at all (docs/SECURITY.md)."""

from __future__ import annotations

from typing import Any

from tests.fakes.slack_api import Workspace, uid
from tests.security.support import NO_CASE, NO_REQUEST, NOT_A_PERSON, NOT_OWNER_SIDE, counts


def _stranger(ws: Workspace, user: str, **extra: Any) -> None:
    ws.fake.users[user] = {
        "id": user,
        "name": user.lower(),
        "real_name": f"Someone {user}",
        "profile": {"email": f"{user.lower()}@elsewhere.example"},
        **extra,
    }


async def _as(ws: Workspace, user: str, text: str, *, team: str | None = None) -> str:
    body = ws.drive.command_body("alex", text).replace(uid("alex"), user)
    if team is not None:
        body = body.replace("team_id=T0OWNIT", f"team_id={team}")
    r = await ws.drive.post(body, "application/x-www-form-urlencoded")
    assert r.status == 200
    await ws.app.inbox.settled()
    shown = ws.fake.of("response_url", hook=body.split("hooks%2F")[-1].split("&")[0])
    return str(shown[-1].args) if shown else r.body


async def _story(ws: Workspace) -> None:
    await ws.drive.command("alex", "open Acme: invoice wrong")
    await ws.drive.command("alex", "ask C-1 <@UDANA|dana> refund done? by 16:00")


async def test_a_case_is_hidden_from_a_colleague_not_on_it(ws: Workspace) -> None:
    await _story(ws)
    before = await counts(ws.app)
    for who, text, refusal in [
        ("jo", "status C-1", NO_CASE),
        ("kenji", "resolve C-1 done", NO_CASE),
        ("bo", "answer R-1 done", NO_REQUEST),
        ("dana", "resolve C-1 done", NOT_OWNER_SIDE),
    ]:
        r = await ws.drive.command(who, text)
        assert refusal in r.text() and "invoice wrong" not in r.text(), (who, text)
    assert await counts(ws.app) == before
    r = await ws.drive.command("dana", "status C-1")
    assert "refund done?" in r.text() and "Timeline" not in r.text()


async def test_a_guest_or_a_bot_gets_help_only_and_no_person(ws: Workspace) -> None:
    await _story(ws)
    _stranger(ws, "UGUEST", is_restricted=True)
    _stranger(ws, "USINGLE", is_ultra_restricted=True)
    _stranger(ws, "UROBOT", is_bot=True)
    before = await counts(ws.app)
    for user in ("UGUEST", "USINGLE", "UROBOT"):
        for text in ("open Beta: x", "status C-1"):
            shown = await _as(ws, user, text)
            assert NOT_A_PERSON in shown and "/case open" in shown, (user, shown)
    assert await counts(ws.app) == before


async def test_a_full_member_becomes_a_person_but_sees_nothing_of_others(ws: Workspace) -> None:
    await _story(ws)
    _stranger(ws, "UNIA")
    shown = await _as(ws, "UNIA", "status C-1")
    assert NO_CASE in shown
    before = await counts(ws.app)
    await _as(ws, "UNIA", "open Beta: login broken")
    after = await counts(ws.app)
    assert after["case"] == before["case"] + 1 and after["person"] == before["person"]


async def test_another_workspace_and_no_user_are_refused(ws: Workspace) -> None:
    await _story(ws)
    before = await counts(ws.app)
    shown = await _as(ws, uid("alex"), "status C-1", team="TOTHER")
    assert "not the organisation's own" in shown and "invoice wrong" not in shown
    _stranger(ws, "UCONNECT", team_id="TOTHER")
    shown = await _as(ws, "UCONNECT", "open Beta: x")
    assert "not the organisation's own" in shown
    await _as(ws, "", "open Beta: x")
    assert await counts(ws.app) == before


async def test_a_mentioned_guest_is_not_made_a_person(ws: Workspace) -> None:
    await _story(ws)
    _stranger(ws, "UGUEST", is_restricted=True)
    before = await counts(ws.app)
    r = await ws.drive.command("alex", "ask C-1 <@UGUEST|gus> can you look?")
    assert "gus is not part of this organisation" in r.text()
    assert await counts(ws.app) == before
