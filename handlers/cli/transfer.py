"""`ownit export` and `ownit import`: the command-line side of `storage.transfer`.

Files are opened here, before the event loop starts; the export streams into them line by line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from bot.messages import sentence
from bot.runtime.config import ConfigError, Settings
from bot.runtime.hooks import PEOPLE, POLICY
from storage.db import Database
from storage.shared import TIMERS, make_shared
from storage.transfer import Summary, TransferError, export, load


def _report(summary: Summary) -> None:
    """Counts and checksums on standard error, so standard output can carry the export."""
    for name, s in summary.items():
        line = sentence("transfer_table", table=name, count=s["count"], sha=s["sha256"][:16])
        print(line, file=sys.stderr)


async def _export(url: str, out: TextIO) -> Summary:
    db = Database(url)
    try:
        return await export(db, out.write)
    finally:
        await db.dispose()


async def _import(settings: Settings, lines: Iterable[str], replace: bool) -> Summary:
    db = Database(settings.database_url)
    try:
        summary = await load(db, lines, replace=replace)
    finally:
        await db.dispose()
    await _tell_replicas(settings)
    return summary


async def _tell_replicas(settings: Settings) -> None:
    """Running replicas keep people, teams, calendars and the policy in memory, fresh through
    Redis's wake-ups: an import changed them underneath, so they are told to read them again
    (and to look at the timers). Without Redis no one is told: a process that was running on
    that database is restarted."""
    if not settings.redis_url:
        return
    shared = make_shared(settings.redis_url, settings.database_url)
    try:
        await shared.announce(TIMERS, PEOPLE, POLICY)
    finally:
        await shared.close()


def export_command(settings: Settings, args: argparse.Namespace) -> None:
    with ExitStack() as stack:
        out: TextIO = sys.stdout
        if args.output:
            path = Path(args.output)
            if not path.parent.is_dir():
                raise ConfigError(
                    sentence("cli_no_such_folder", path=str(path), folder=str(path.parent))
                )
            out = stack.enter_context(path.open("w", encoding="utf-8"))
        summary = asyncio.run(_export(settings.database_url, out))
    _report(summary)


def import_command(settings: Settings, args: argparse.Namespace) -> None:
    with ExitStack() as stack:
        lines: TextIO = sys.stdin
        if args.file != "-":
            path = Path(args.file)
            if not path.is_file():
                raise ConfigError(sentence("transfer_no_file", path=str(path)))
            lines = stack.enter_context(path.open(encoding="utf-8"))
        try:
            summary = asyncio.run(_import(settings, lines, args.replace))
        except TransferError as exc:
            raise ConfigError(sentence(f"transfer_{exc.kind}", **exc.fields)) from None
    _report(summary)
    print(
        sentence("transfer_done", rows=sum(s["count"] for s in summary.values())), file=sys.stderr
    )
