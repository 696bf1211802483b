"""`/case admin …`: people, teams, managers, backups, calendars, policy, platform links.

The grammar (`bot.commands.admin_grammar`) reads the words into the typed commands of
`bot.admin.commands`; this package carries them out. Only admins change the organisation;
`admin policy` alone shows the policy to anyone, a manager sets their own digest and their
teams' targets. Who may run which was decided before (`bot.access`).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin import organisation, standards
from bot.admin.commands import (
    AddPerson,
    AddTeam,
    AdminCommand,
    ChangePolicy,
    ConfigureDigest,
    Link,
    SetAdmin,
    SetBackup,
    SetCalendar,
    SetDefaultDeadline,
    SetManager,
    SetMember,
    SetTarget,
    ShowPolicy,
)
from bot.admin.replies import usage
from bot.directory import Rules
from bot.messages import Message
from bot.policy import Policy
from storage.tables import Person

__all__ = ["AdminCommand", "run", "usage"]


async def run(
    s: AsyncSession,
    *,
    app_policy: Policy,
    rules: Rules,
    actor: Person,
    command: AdminCommand,
    platform: str | None,
) -> Message:
    """Carry out one admin command inside the caller's transaction; a Refusal rolls it back."""
    match command:
        case ShowPolicy():
            return standards.show_policy(rules.policy)
        case ConfigureDigest():
            return await standards.configure_digest(
                s, actor=actor, command=command, platform=platform
            )
        case SetTarget():
            return await standards.set_target(s, actor=actor, command=command)
    match command:
        case AddPerson():
            return await organisation.add_person(s, command)
        case AddTeam():
            return await organisation.add_team(s, command)
        case SetMember():
            return await organisation.set_member(s, command, platform)
        case SetManager():
            return await organisation.set_manager(s, command, platform)
        case SetBackup():
            return await organisation.set_backup(s, command, platform)
        case SetCalendar():
            return await organisation.set_calendar(s, command, platform)
        case Link():
            return await organisation.link(s, command)
        case SetAdmin():
            return await organisation.set_admin(s, command, actor=actor, platform=platform)
        case ChangePolicy() | SetDefaultDeadline():
            return await standards.change_policy(s, app_policy=app_policy, command=command)
    raise TypeError(f"not an admin command: {command!r}")  # pragma: no cover
