"""The README cannot drift: its settings table, its console example, `make run AS=…`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.runtime.app import Ownit
from bot.runtime.config import Settings, load_settings
from handlers.cli import main
from handlers.cli.settings_doc import markdown
from handlers.console.terminal import Console, ConsoleChannel

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text("utf-8")


def test_the_readme_table_is_the_settings_class() -> None:
    table = README.split("<!-- settings:start -->\n", 1)[1].split("<!-- settings:end -->", 1)[0]
    assert table == markdown(), "refresh it with `ownit settings --markdown`"
    for field in Settings.model_fields.values():
        assert field.description, f"{field.alias} needs a description"
    assert "`OWNIT_LOG_LEVEL`" in table and "`TEAMS_API_URL`" in table


def test_the_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "--markdown"]) == 0
    assert capsys.readouterr().out == markdown()
    assert main(["settings"]) == 0
    assert "OWNIT_METRICS_PORT  (default unset)" in capsys.readouterr().out


def test_env_example_names_every_setting() -> None:
    example = (ROOT / "deploy" / "env.example").read_text("utf-8")
    for field in Settings.model_fields.values():
        assert f"{field.alias}=" in example, field.alias


def test_make_run_passes_as() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    assert "$(BIN)/ownit run $(if $(AS),--as $(AS))" in makefile
    assert "make run AS=alex" in README


async def test_the_readme_console_example_is_true(tmp_path: Path) -> None:
    """Typed as alex (`make run AS=alex`) on Monday 23 November 09:00, the README's lines are
    what the console prints."""
    block = README.split("```text\nalex> ", 1)[1].split("```", 1)[0]
    example = ("alex> " + block).splitlines()
    typed = [line.removeprefix("alex> ") for line in example if line.startswith("alex> ")]
    printed: list[str] = []
    settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}")
    app = await Ownit.start(settings, simulated=True, channels=[ConsoleChannel(printed.append)])
    app.clock.start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    try:
        console = Console(app, actor="alex", out=printed.append)
        for line in typed:
            printed.append(f"alex> {line}")
            await console.line(line)
    finally:
        await app.close()
    assert "\n".join(printed).splitlines() == example
    assert re.search(r"`/as dana`", README)
