"""`ownit export` / `ownit import`: SQLite after a console story into PostgreSQL, equal data."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from handlers.cli import main
from handlers.cli import transfer as cli_transfer
from handlers.console.terminal import Console, ConsoleChannel
from storage.db import Database
from storage.migrate import migrate
from storage.shared import RedisShared, namespace
from storage.transfer import TransferError, counts, export, load
from tests.fakes.slack_api import until

STORY = [
    "/case open Acme Corp: charged twice for invoice 1043 promise next business day p2",
    "/case ask C-1 @dana Was invoice 1043 charged twice? by tomorrow 12:00",
    "/clock +3h",
    "/as dana",
    "/case ack R-1",
    "/case answer R-1 Yes, a retry bug; refunded.",
    "/as alex",
    "/case resolve C-1 refunded",
    "/case open Globex: login broken promise tomorrow 12:00 p1",
]


async def _story(url: str, lines: list[str]) -> list[str]:
    out: list[str] = []
    settings = load_settings(
        DATABASE_URL=url, OWNIT_ORG_FILE=str(example_org_file()), OWNIT_TIMEZONE="Europe/London"
    )
    app = await Ownit.start(settings, simulated=True, channels=[ConsoleChannel(out.append)])
    if app.clock.simulated:
        app.clock.start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    try:
        console = Console(app, actor="alex", out=out.append)
        for line in lines:
            await console.line(line)
    finally:
        await app.close()
    return out


async def _export(url: str, path: Path) -> dict[str, dict[str, object]]:
    db = Database(url)
    try:
        with path.open("w", encoding="utf-8") as f:
            return await export(db, f.write)
    finally:
        await db.dispose()


async def _load(url: str, path: Path, *, replace: bool = False) -> dict[str, dict[str, object]]:
    db = Database(url)
    try:
        with path.open(encoding="utf-8") as f:
            return await load(db, f, replace=replace)
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_sqlite_to_postgresql_moves_every_row(
    sqlite_url: str, pg_empty_url: str, tmp_path: Path
) -> None:
    await _story(sqlite_url, STORY)
    dump = tmp_path / "ownit.jsonl"
    exported = await _export(sqlite_url, dump)
    assert exported["case"]["count"] == 2 and exported["request"]["count"] == 1
    assert exported["event"]["count"] > 0 and exported["person"]["count"] > 0

    imported = await _load(pg_empty_url, dump)
    assert imported == exported
    again = tmp_path / "again.jsonl"
    assert (
        await _export(pg_empty_url, again) == exported
    )  # read back from PostgreSQL: the same data

    # The ids continue after the imported ones: the next case on PostgreSQL is C-3.
    out = await _story(pg_empty_url, ["/case open Initech: printer on fire promise tomorrow 17:00"])
    assert any("C-3 opened for Initech" in line for line in out)

    with pytest.raises(TransferError) as refused:
        await _load(pg_empty_url, dump)
    assert refused.value.kind == "not_empty"
    assert await _load(pg_empty_url, dump, replace=True) == exported
    db = Database(pg_empty_url)
    try:
        assert (await counts(db))["case"] == 2
    finally:
        await db.dispose()


async def test_a_damaged_export_is_refused_and_nothing_lands(
    sqlite_url: str, tmp_path: Path
) -> None:
    await _story(sqlite_url, STORY[:2])
    dump = tmp_path / "ownit.jsonl"
    await _export(sqlite_url, dump)
    lines = dump.read_text("utf-8").splitlines(keepends=True)
    target = f"sqlite:///{tmp_path / 'target.db'}"
    db = Database(target)
    await migrate(db)
    await db.dispose()

    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("".join(lines[:-1]), "utf-8")
    with pytest.raises(TransferError, match="truncated"):
        await _load(target, truncated)

    altered = tmp_path / "altered.jsonl"
    edited = [json.loads(line) for line in lines]
    for item in edited:
        if item.get("table") == "case":
            item["row"]["customer"] = "Someone Else"
    altered.write_text("".join(json.dumps(i) + "\n" for i in edited), "utf-8")
    with pytest.raises(TransferError) as corrupt:
        await _load(target, altered)
    assert corrupt.value.kind == "corrupt" and corrupt.value.fields == {"table": "case"}

    db = Database(target)
    try:
        assert not any((await counts(db)).values())
    finally:
        await db.dispose()


def test_the_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OWNIT_ORG_FILE", str(example_org_file()))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'a.db'}")
    assert main(["migrate"]) == 0
    assert main(["export", "-o", str(tmp_path / "missing" / "x.jsonl")]) == 2
    assert "folder" in capsys.readouterr().err
    assert main(["export", "-o", str(tmp_path / "a.jsonl")]) == 0
    assert "person: 0 rows" in capsys.readouterr().err
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'b.db'}")
    assert main(["import", str(tmp_path / "a.jsonl")]) == 0
    assert "imported 0 rows" in capsys.readouterr().err
    (tmp_path / "junk.jsonl").write_text("hello\n", "utf-8")
    assert main(["import", str(tmp_path / "junk.jsonl")]) == 2
    assert "not an ownit export" in capsys.readouterr().err


@pytest.mark.redis
async def test_an_import_tells_the_running_replicas_to_read_people_again(
    tmp_path: Path, redis_url: str
) -> None:
    """Replicas keep people, teams and the policy in memory, fresh through Redis's wake-ups:
    an import changed them underneath, so it says so."""
    source = f"sqlite:///{tmp_path / 'a.db'}"
    await _story(source, STORY[:2])
    await _export(source, tmp_path / "a.jsonl")
    settings = load_settings(
        DATABASE_URL=f"sqlite:///{tmp_path / 'b.db'}",
        REDIS_URL=redis_url,
        OWNIT_ORG_FILE=str(example_org_file()),
    )
    replica = RedisShared(redis_url, prefix=namespace(settings.database_url))
    heard: list[frozenset[str] | None] = []
    stop = asyncio.Event()
    listening = asyncio.create_task(replica.listen(stop, heard.append))

    async def subscribed() -> bool:
        return replica.subscribed

    async def told() -> bool:
        return any(t and "people" in t for t in heard)

    try:
        await until(subscribed, within=5)
        with (tmp_path / "a.jsonl").open(encoding="utf-8") as lines:
            summary = await cli_transfer._import(settings, lines, replace=False)
        assert summary["person"]["count"] > 0
        await until(told, within=5)
        assert any(t and {"people", "policy"} <= t for t in heard)
    finally:
        stop.set()
        await listening
        await replica.close()
