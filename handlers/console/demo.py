"""`ownit demo`: the classic story, played on a simulated clock against a throwaway database.

The story is a console script (`prompts/demo_story.txt`), so what the demo shows is exactly what
anyone can type into `ownit console`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from bot.clock import SimClock
from bot.runtime.app import Ownit, example_org_file
from bot.runtime.config import load_settings
from handlers.console.terminal import Console

START = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # a Monday morning in London (GMT)


def story() -> list[str]:
    text = resources.files("prompts").joinpath("demo_story.txt").read_text("utf-8")
    return text.splitlines()


async def play(out: Callable[[str], None] = print, database_url: str | None = None) -> Ownit:
    """Play the story; returns the app (closed) so callers can inspect the database."""
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'demo.db'}"
        settings = load_settings(
            DATABASE_URL=url, OWNIT_ORG_FILE=str(example_org_file()), OWNIT_TIMEZONE="Europe/London"
        )
        console_out: list[str] = []

        def emit(line: str) -> None:
            console_out.append(line)
            out(line)

        from handlers.console.terminal import ConsoleChannel

        app = await Ownit.start(settings, simulated=True, channels=[ConsoleChannel(emit)])
        assert isinstance(app.clock, SimClock)
        app.clock.start = START
        await app.clock.now()
        console = Console(app, actor="alex", out=emit)
        try:
            for line in story():
                if line.strip() and not line.lstrip().startswith("#"):
                    emit(f"{console.actor}> {line}")
                await console.line(line)
        finally:
            await app.close()
        return app
