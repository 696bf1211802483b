"""The demo story, the command line, configuration and database URLs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime.config import ConfigError, load_settings
from handlers.console.demo import play
from storage.db import DatabaseUrlError, async_url


async def test_demo_story_end_to_end() -> None:
    lines: list[str] = []
    await play(out=lines.append)
    out = "\n".join(lines)
    steps = [
        "C-1 opened for Acme Corp",
        "→ @dana: @alex needs your help on C-1",
        "→ @dana: Reminder: @alex is waiting on R-1",  # nudged before acknowledging
        "→ @alex: @dana acknowledged R-1",
        # the promise (Tue 17:00) is safe even if Dana answers at her deadline (Tue 12:00): the
        # at-risk step is her reminder alone, and the owner is not warned
        "→ @dana: R-1 is at risk",
        "Hello Acme Corp",  # the owner's own drafted customer update
        "→ @morgan: Escalation: @dana has not answered R-1",  # manager before the promise
        "→ @alex: @dana answered R-1",
        "C-1 (Acme Corp) resolved. Promise kept.",
        "Timeline",
        "time to answer (business time): 11h40m; handoffs: 0",
    ]
    position = 0
    for step in steps:
        found = out.find(step, position)
        assert found >= 0, f"missing or out of order: {step!r}"
        position = found
    assert "Promise at risk" not in out  # the escalation came in time
    assert "→ @alex: R-1 on C-1 (Acme Corp) is at risk" not in out


def _ownit(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "MICROSOFT_", "OPENAI_", "AZURE_OPENAI_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        env={**base, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ownit_demo_command_prints_the_transcript() -> None:
    result = _ownit("demo")
    assert result.returncode == 0, result.stderr
    assert "Escalation: @dana has not answered R-1" in result.stdout
    assert "promise: kept" in result.stdout


def test_the_demo_transcript_is_the_one_people_know() -> None:
    """Reshaping the code changes nothing a person sees: `ownit demo` prints, to the character,
    the transcript it printed before (tests/golden/demo.txt; refresh it for a wording change)."""
    result = _ownit("demo")
    assert result.returncode == 0, result.stderr
    golden = (Path(__file__).with_name("golden") / "demo.txt").read_text("utf-8")
    assert result.stdout == golden


def test_console_reads_a_piped_script(tmp_path: Path) -> None:
    script = "/case open Globex: login broken promise tomorrow 12:00 p1\n/case status C-1\n"
    result = _ownit(
        "console",
        "--as",
        "jo",
        env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
        stdin=script,
    )
    assert result.returncode == 0, result.stderr
    assert "jo> /case open Globex" in result.stdout
    assert "→ @jo: C-1 opened for Globex: login broken. Owner @jo, P1." in result.stdout
    assert "→ @jo (only you): C-1 · Globex" in result.stdout


def test_bad_setting_is_named() -> None:
    result = _ownit("migrate", env={"OWNIT_TIMEZONE": "Mars/Olympus", "PORT": "eighty"})
    assert result.returncode == 2
    assert "OWNIT_TIMEZONE" in result.stderr and "PORT" in result.stderr
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings(DATABASE_URL="mysql://root@localhost/x")


def test_clock_advance_needs_the_simulated_clock(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    refused = _ownit("clock", "advance", "3h", env=env)
    assert refused.returncode == 2 and "OWNIT_CLOCK" in refused.stderr
    env["OWNIT_CLOCK"] = "sim"
    first = _ownit("clock", "show", env=env)
    moved = _ownit("clock", "advance", "1d", env=env)
    assert first.returncode == moved.returncode == 0
    assert first.stdout != moved.stdout


def test_clock_show_names_the_console_clock(tmp_path: Path) -> None:
    """With OWNIT_CLOCK unset the console runs a simulated clock: `clock show` says so, and
    shows it once the console has moved it, beside the real clock the server uses."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    before = _ownit("clock", "show", env=env)
    assert before.returncode == 0, before.stderr
    assert "real clock" in before.stdout and "simulated clock has not started" in before.stdout
    moved = _ownit("console", "--as", "alex", env=env, stdin="/clock +1d\n")
    assert moved.returncode == 0, moved.stderr
    after = _ownit("clock", "show", env=env)
    real, console = after.stdout.splitlines()
    assert "real clock" in real and "simulated clock" in console and "ownit console" in console
    assert real.split(" (")[0] != console.split(" (")[0]
    forced = _ownit("clock", "show", env={**env, "OWNIT_CLOCK": "real"})
    assert "real clock" in forced.stdout and "simulated" not in forced.stdout


def test_report_to_a_missing_folder_blames_the_folder(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"}
    result = _ownit("report", "--since", "2026-10-01", "-o", "/missing/dir/x.csv", env=env)
    assert result.returncode == 2
    assert "/missing/dir does not exist" in result.stderr
    assert "database" not in result.stderr


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///ownit.db", "sqlite+aiosqlite:///ownit.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u:p@h:5433/db", "postgresql+asyncpg://u:p@h:5433/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_url_forms(given: str, expected: str) -> None:
    assert async_url(given) == expected


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(DatabaseUrlError, match="SQLite or PostgreSQL"):
        async_url("mysql://root@localhost/x")
