"""Where a command came from: the platform, the person's id there, the thread's case, and what
the platform says of the person (guest, bot, which workspace), for `bot.access` to decide."""

from __future__ import annotations

from dataclasses import dataclass

from storage.states import Platform


@dataclass(frozen=True)
class Origin:
    """Who typed the command, where: the platform, their id there, and the thread's case.

    The membership facts default to "a full member": the console and the people the platform
    already linked need no more. `known` is False when the platform could not say who they are.
    """

    platform: str
    user: str
    name: str | None = None
    email: str | None = None
    tz: str | None = None
    channel: str | None = None
    thread: str | None = None
    case: str | None = None
    guest: bool = False  # a Slack guest (restricted, ultra-restricted) or a Teams guest
    bot: bool = False
    known: bool = True
    home: str | None = None  # the workspace or tenant the person belongs to
    org_home: str | None = None  # the organisation's own workspace or tenant, when known

    @property
    def directory_platform(self) -> str | None:
        """The platform whose ids a mention in the command uses (None on the console)."""
        return None if self.platform == Platform.CONSOLE else self.platform
