"""Where a command came from: the platform, the person's id there, and the thread's case."""

from __future__ import annotations

from dataclasses import dataclass

from storage.states import Platform


@dataclass(frozen=True)
class Origin:
    """Who typed the command, where: the platform, their id there, and the thread's case."""

    platform: str
    user: str
    name: str | None = None
    email: str | None = None
    tz: str | None = None
    channel: str | None = None
    thread: str | None = None
    case: str | None = None

    @property
    def directory_platform(self) -> str | None:
        """The platform whose ids a mention in the command uses (None on the console)."""
        return None if self.platform == Platform.CONSOLE else self.platform
