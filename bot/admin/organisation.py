"""Who is who: people, teams, members, managers, backups, calendars, platform links, admins.

Only admins change these (`bot.admin.run` checks before calling here).
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.commands import (
    AddPerson,
    AddTeam,
    Link,
    SetAdmin,
    SetBackup,
    SetCalendar,
    SetManager,
    SetMember,
)
from bot.admin.replies import person, say, usage
from bot.business_time import Calendar, parse_workdays
from bot.directory import (
    HANDLE,
    calendar_of,
    normalise_handle,
    person_by_handle,
    resolve,
    team_by_key,
)
from bot.errors import Refusal
from bot.messages import Message, sentence
from storage.states import Platform
from storage.tables import Membership, Person, Team


async def add_person(s: AsyncSession, command: AddPerson) -> Message:
    handle = normalise_handle(command.handle)
    if not HANDLE.match(handle):
        raise Refusal(sentence("cmd_admin_bad_handle", raw=command.handle))
    if await person_by_handle(s, handle) or await team_by_key(s, handle):
        raise Refusal(sentence("cmd_admin_exists", handle=handle))
    s.add(Person(handle=handle, name=command.name, email=command.email))
    return say("cmd_admin_person_added", handle=handle, name=command.name)


async def add_team(s: AsyncSession, command: AddTeam) -> Message:
    key = normalise_handle(command.key)
    if not HANDLE.match(key):
        raise Refusal(sentence("cmd_admin_bad_team_key", raw=command.key))
    if await team_by_key(s, key) or await person_by_handle(s, key):
        raise Refusal(sentence("cmd_admin_exists", handle=key))
    s.add(Team(key=key, name=command.name))
    return say("cmd_admin_team_added", key=key)


async def set_member(s: AsyncSession, command: SetMember, platform: str | None) -> Message:
    team = await team_by_key(s, command.team)
    if team is None:
        raise Refusal(sentence("cmd_admin_no_team", key=normalise_handle(command.team)))
    who = await person(s, command.person, platform)
    assert team.id is not None and who.id is not None
    member = await s.get(Membership, (team.id, who.id))
    if command.member:
        if member is None:
            s.add(Membership(team_id=team.id, person_id=who.id))
        return say("cmd_admin_member_in", handle=who.handle, team=team.key)
    if member is not None:
        await s.delete(member)
    return say("cmd_admin_member_out", handle=who.handle, team=team.key)


async def set_manager(s: AsyncSession, command: SetManager, platform: str | None) -> Message:
    who = await resolve(s, command.who, platform=platform)
    manager = await person(s, command.manager, platform)
    if isinstance(who, Person) and who.id == manager.id:
        raise Refusal(sentence("cmd_admin_self_manager"))
    who.manager_id = manager.id
    s.add(who)
    return say("cmd_admin_managed_by", who=who.name, manager=manager.name)


async def set_backup(s: AsyncSession, command: SetBackup, platform: str | None) -> Message:
    who = await person(s, command.person, platform)
    backup = await person(s, command.backup, platform)
    if who.id == backup.id:
        raise Refusal(sentence("cmd_admin_self_backup"))
    who.backup_id = backup.id
    s.add(who)
    return say("cmd_admin_backs_up", backup=backup.name, person=who.name)


async def set_calendar(s: AsyncSession, command: SetCalendar, platform: str | None) -> Message:
    who = await resolve(s, command.who, platform=platform)
    fields = dict(command.fields)
    try:
        probe = Person.model_validate({"handle": "x", "name": "x", **fields})
        calendar_of(probe, Calendar())
        if fields.get("workdays"):
            parse_workdays(str(fields["workdays"]))
    except ValueError as exc:
        raise Refusal(sentence("cmd_admin_bad_calendar", error=str(exc)), usage()) from None
    for k, v in fields.items():
        setattr(who, k, v)
    s.add(who)
    listed = ", ".join(f"{k} {v}" for k, v in fields.items())
    return say("cmd_admin_calendar_set", who=who.name, fields=listed)


async def link(s: AsyncSession, command: Link) -> Message:
    who = await person(s, command.person, None)
    slack = command.platform == Platform.SLACK
    column = Person.slack_id if slack else Person.teams_id
    clash = (await s.exec(select(Person).where(column == command.platform_id))).first()
    if clash is not None and clash.id != who.id:
        raise Refusal(
            sentence("cmd_admin_link_clash", platform=command.platform, handle=clash.handle)
        )
    setattr(who, "slack_id" if slack else "teams_id", command.platform_id)
    s.add(who)
    return say(
        "cmd_admin_linked",
        handle=who.handle,
        platform=command.platform,
        platform_id=command.platform_id,
    )


async def set_admin(
    s: AsyncSession, command: SetAdmin, *, actor: Person, platform: str | None
) -> Message:
    who = await person(s, command.person, platform)
    if not command.admin and who.id == actor.id:
        raise Refusal(sentence("cmd_admin_self_unadmin"))
    who.is_admin = command.admin
    s.add(who)
    key = "cmd_admin_now_admin" if who.is_admin else "cmd_admin_no_longer_admin"
    return say(key, handle=who.handle)
