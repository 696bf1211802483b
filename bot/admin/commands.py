"""The `/case admin …` commands, typed: what the grammar reads and `bot.admin` carries out.

They live beside their executor, not in `bot.commands`, so that the command service can import
the admin package while the admin package knows nothing of the grammar that produces them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.directory import Ref
from storage.states import Platform

CalendarField = Literal["tz", "hours", "workdays", "country"]
PolicyField = Literal["nudge", "at_risk", "buffer"]


@dataclass(frozen=True)
class AdminCommand:
    """Any `/case admin …` command; the policy may change, so the rules are read again after."""


@dataclass(frozen=True)
class AddPerson(AdminCommand):
    handle: str
    name: str
    email: str | None


@dataclass(frozen=True)
class AddTeam(AdminCommand):
    key: str
    name: str


@dataclass(frozen=True)
class SetMember(AdminCommand):
    team: str
    person: Ref
    member: bool


@dataclass(frozen=True)
class SetManager(AdminCommand):
    who: Ref
    manager: Ref


@dataclass(frozen=True)
class SetBackup(AdminCommand):
    person: Ref
    backup: Ref


@dataclass(frozen=True)
class SetCalendar(AdminCommand):
    """`fields` in the order they were written, `tz` first (the reply lists them so)."""

    who: Ref
    fields: tuple[tuple[CalendarField, str], ...]


@dataclass(frozen=True)
class Link(AdminCommand):
    person: Ref
    platform: Platform
    platform_id: str


@dataclass(frozen=True)
class SetAdmin(AdminCommand):
    person: Ref
    admin: bool


@dataclass(frozen=True)
class SetTarget(AdminCommand):
    """One of a team's standards: the on-time share, or the first-response minutes."""

    team: str
    on_time: float | None = None
    first_response: int | None = None


@dataclass(frozen=True)
class ConfigureDigest(AdminCommand):
    """`who` None: one's own digest. `settings` are handed as written to `bot.digests`."""

    who: Ref | None
    settings: tuple[str, ...]


@dataclass(frozen=True)
class ShowPolicy(AdminCommand):
    pass


@dataclass(frozen=True)
class ChangePolicy(AdminCommand):
    name: PolicyField
    value: str


@dataclass(frozen=True)
class SetDefaultDeadline(AdminCommand):
    priority: str
    when: str
