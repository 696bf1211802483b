"""The weekly digest's chart in Slack: the PNG is uploaded into the manager's DM after the text.

Through ownit's real web server and the fake Slack, on the simulated clock: the background loop
sends the weekly digest, and `files_upload_v2` takes Slack's three steps against the fake
(files.getUploadURLExternal, the bytes to the upload URL, files.completeUploadExternal).
"""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from matplotlib.image import imread
from sqlmodel import select

from bot import charts
from bot.clock import SimClock
from storage.tables import Outbox, Person
from tests.fakes.slack_api import FakeSlack, Workspace, start_ownit, text_of, uid

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# Sunday noon: no digest is due yet, so the previous week's cannot race the one under test.
SUNDAY = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


async def weekly_digest_for_morgan(ws: Workspace) -> None:
    """An overdue request of Dana's (Morgan's report), then the clock to Monday 09:00."""
    await ws.drive.command("alex", "open Acme: invoice wrong promise wed 17:00 p2")
    await ws.drive.command("alex", f"ask C-1 <@{uid('dana')}|dana> Is invoice 7 wrong? by 11:00")
    assert isinstance(ws.app.clock, SimClock)
    await ws.app.clock.set(datetime(2026, 11, 24, 8, 30, tzinfo=UTC))
    await ws.app.settle()
    await ws.app.clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))


async def morgans_chart(ws: Workspace) -> dict[str, Any]:
    """The chart of Morgan's weekly digest (`extra["chart"]`), as the outbox holds it."""
    async with ws.app.db.reader() as s:
        morgan = (await s.exec(select(Person).where(Person.handle == "morgan"))).one()
        rows = (
            await s.exec(
                select(Outbox).where(Outbox.kind == "digest", Outbox.person_id == morgan.id)
            )
        ).all()
    (extra,) = [r.payload["extra"] for r in rows if r.payload["extra"].get("chart")]
    return dict(extra["chart"])


async def test_weekly_digest_reaches_slack_with_the_chart(sqlite_url: str) -> None:
    fake = await FakeSlack().start()
    ws = await start_ownit(sqlite_url, fake, start=SUNDAY)
    dm = "D" + uid("morgan")
    try:
        await weekly_digest_for_morgan(ws)
        (text,) = await fake.wait_for(
            "chat.postMessage", lambda c: "Weekly digest" in text_of(c), channel=dm
        )
        (done,) = await fake.wait_for("files.completeUploadExternal", channel_id=dm)
        (upload,) = fake.files_in(dm)
        (sent,) = fake.of("upload", file_id=upload.file_id)
        assert text.at <= sent.at <= done.at  # the text first, then the file
        assert upload.data is not None and upload.data.startswith(PNG_SIGNATURE)
        assert len(upload.data) == upload.length
        chart = await morgans_chart(ws)
        assert upload.data == charts.decode_chart({"chart": chart})  # the digest's very image
        image = imread(io.BytesIO(upload.data), format="png")
        assert image.shape[:2] == (400, 800)
        assert upload.filename == chart["filename"] and upload.filename.endswith(".png")
        assert upload.title == chart["title"]
        assert upload.alt_txt == chart["alt"]

        await ws.app.settle()  # sweeps and drains until nothing is due: still one of each
        assert len([c for c in fake.dms_to("morgan") if "Weekly digest" in text_of(c)]) == 1
        assert len(fake.files_in(dm)) == 1
    finally:
        await ws.stop()
        await fake.close()


async def test_a_failed_chart_upload_keeps_the_digest_text(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="handlers.slack.channel")
    fake = await FakeSlack().start()
    fake.fail("files.completeUploadExternal", times=100, error="missing_scope")
    ws = await start_ownit(sqlite_url, fake, start=SUNDAY)
    dm = "D" + uid("morgan")
    try:
        await weekly_digest_for_morgan(ws)
        await fake.wait_for("chat.postMessage", lambda c: "Weekly digest" in text_of(c), channel=dm)
        for _ in range(200):
            if any(c.method == "files.completeUploadExternal" for c in fake.calls):
                break
            await asyncio.sleep(0.05)
        refused = [c for c in fake.calls if c.method == "files.completeUploadExternal"]
        assert refused and all(c.status == 500 for c in refused)
        await ws.app.settle()  # the outbox row is settled as sent: no retry sends it twice
        assert len([c for c in fake.dms_to("morgan") if "Weekly digest" in text_of(c)]) == 1
        assert fake.files_in(dm) == []
        async with ws.app.db.reader() as s:
            rows = (await s.exec(select(Outbox).where(Outbox.kind == "digest"))).all()
        assert rows and all(r.sent and r.error is None for r in rows)
        assert f"chart upload to {dm} failed (missing_scope)" in caplog.text
    finally:
        await ws.stop()
        await fake.close()
