"""A request asked in a case thread is posted there, and its case card shows it: by the process
that made it from what the change held, or, should that process die first, by a later sync once
the claim made with the request has expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select, update

from handlers.slack.card_claims import CLAIM_SECONDS
from storage.tables import Case, Person, Request
from tests.fakes.slack_api import (
    Call,
    FakeSlack,
    Workspace,
    shown,
    start_ownit,
    swept,
    uid,
    until,
)


def thread_posts(ws: Workspace, channel: str, thread: str, words: str) -> list[Call]:
    calls = ws.fake.of("chat.postMessage", channel=channel, thread_ts=thread)
    return [c for c in calls if words in shown(c)]


async def the_request(ws: Workspace, req_id: int = 1) -> Request:
    async with ws.app.db.reader() as s:
        req = await s.get(Request, req_id)
    assert req is not None
    return req


async def test_a_request_asked_in_a_case_thread_is_posted_there_and_on_the_card(
    ws: Workspace,
) -> None:
    drive = ws.drive
    await drive.command("alex", "open Acme: invoice wrong")
    channel, thread = await ws.case_thread()
    r = await drive.command("alex", f"ask C-1 <@{uid('dana')}|dana> Is invoice 7 wrong?")
    assert "R-1" in r.text()

    async def posted() -> bool:
        return bool(thread_posts(ws, channel, thread, "Is invoice 7 wrong?"))

    await until(posted)
    await swept(ws, 1)
    (post,) = thread_posts(ws, channel, thread, "Is invoice 7 wrong?")  # once, not twice
    assert f"<@{uid('dana')}>" in shown(post)
    cards = [c for c in ws.fake.of("chat.update", channel=channel, ts=thread)]
    assert "Is invoice 7 wrong?" in shown(cards[-1])
    req = await the_request(ws)
    assert (req.channel, req.posting_since) == (channel, None)
    assert req.thread and req.thread != thread  # its own post, in the case's thread


async def test_a_request_left_claimed_by_a_crash_is_posted_by_a_later_sync(ws: Workspace) -> None:
    """The process that made the request dies before posting it (here: it is never handed the
    change): its claim holds the request back until it expires, then any sync posts it."""
    drive = ws.drive
    await drive.command("alex", "open Acme: invoice wrong")
    channel, thread = await ws.case_thread()
    ws.app.hooks.row_hooks.clear()
    await drive.command("alex", f"ask C-1 <@{uid('dana')}|dana> Is invoice 7 wrong?")
    await swept(ws)
    assert not thread_posts(ws, channel, thread, "Is invoice 7 wrong?")
    req = await the_request(ws)
    assert req.thread is None and req.posting_since is not None

    expired = datetime.now(UTC) - timedelta(seconds=CLAIM_SECONDS + 1)
    async with ws.app.db.session() as s:
        await s.exec(update(Request).where(Request.id == 1).values(posting_since=expired))
    await swept(ws)
    assert len(thread_posts(ws, channel, thread, "Is invoice 7 wrong?")) == 1
    req = await the_request(ws)
    assert req.thread and req.posting_since is None


async def test_a_card_told_only_that_its_case_changed_is_redrawn_from_the_database(
    ws: Workspace,
) -> None:
    """A change this process holds no rows of (another replica's, a timer's): the card is read
    again, so it shows what is in the database."""
    drive = ws.drive
    await drive.command("alex", "open Acme: invoice wrong")
    channel, thread = await ws.case_thread()
    async with ws.app.db.session() as s:
        await s.exec(update(Case).where(Case.id == 1).values(summary="invoice 7 charged twice"))
    ws.app.case_changed("C-1")

    async def redrawn() -> bool:
        cards = ws.fake.of("chat.update", channel=channel, ts=thread)
        return any("invoice 7 charged twice" in shown(c) for c in cards)

    await until(redrawn)


async def test_a_notice_to_someone_the_start_has_not_linked_yet_finds_them_by_email(
    sqlite_url: str, fake: FakeSlack
) -> None:
    """The org file's people get their Slack ids by e-mail in a pass at start; a notice that
    comes to one of them before the pass does looks them up itself rather than calling them
    unreachable."""
    fake.delays["users.lookupByEmail"] = 1.0  # the pass takes a second a person
    ws = await start_ownit(sqlite_url, fake)
    try:
        await ws.drive.command("alex", "open Acme: invoice wrong")
        r = await ws.drive.command("alex", "ask C-1 @billing was invoice 7 charged twice? by 4h")
        assert "R-1" in r.text()
        for who in ("dana", "bo"):  # the Billing team
            dms = await ws.fake.wait_for(
                "chat.postMessage", lambda c: "R-1" in shown(c), channel=f"DU{who.upper()}"
            )
            assert len(dms) == 1
            async with ws.app.db.reader() as s:
                person = (await s.exec(select(Person).where(Person.handle == who))).one()
            assert person.slack_id == uid(who)
        told = [c for c in ws.fake.of("chat.postMessage") if "could not reach" in shown(c)]
        assert told == []
    finally:
        await ws.stop()
