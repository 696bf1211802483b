"""`/case admin …`: people, teams, managers, backups, calendars, policy, platform links.

Only admins change anything; `admin policy` alone shows the policy to anyone.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.business_time import Calendar, parse_workdays
from bot.commands.grammar import parse_ref
from bot.directory import (
    HANDLE,
    Rules,
    calendar_of,
    manages,
    normalise_handle,
    person_by_handle,
    resolve,
    team_by_key,
)
from bot.errors import NotAllowed, Refusal
from bot.messages import Message
from bot.policy import Policy
from storage.tables import Membership, Person, Setting, Team

USAGE = """/case admin person add <handle> <Full Name> [email]
/case admin team add <key> <Team Name>
/case admin member add|remove <team> <@person>
/case admin manager <@person or team> <@manager>
/case admin backup <@person> <@backup>
/case admin calendar <@person or team> <timezone> [09:00-17:00] [mon-fri] [country]
/case admin link <@person> slack|teams <platform id>
/case admin admin add|remove <@person>
/case admin target <team> on_time <0-1> | first_response <minutes>
/case admin digest [@manager|all] at 08:30 | weekly mon | all_clear on|off | on|off
/case admin policy [nudge <share> | at_risk <share> | buffer <duration>]
/case admin policy deadline <P1-P4> <when>"""


def _say(text: str) -> Message:
    return Message("admin", (text,), private=True)


async def _target(s: AsyncSession, word: str, platform: str | None) -> Person | Team:
    ref = parse_ref(word)
    if ref is None:
        raise Refusal(f"`{word}` is not a person or team.", USAGE)
    return await resolve(s, ref, platform=platform)


async def _person(s: AsyncSession, word: str, platform: str | None) -> Person:
    found = await _target(s, word, platform)
    if not isinstance(found, Person):
        raise Refusal(f"@{found.key} is a team; name a person.", USAGE)
    return found


async def set_target(s: AsyncSession, *, actor: Person, args: list[str]) -> Message:
    """Standards are the managers' to raise: a team's manager (or above) or an admin sets them."""
    if len(args) != 3:
        raise Refusal("I can't read that target.", USAGE)
    team = await team_by_key(s, args[0])
    if team is None:
        raise Refusal(f"There is no team @{normalise_handle(args[0])}.")
    manager = await s.get(Person, team.manager_id) if team.manager_id else None
    allowed = actor.is_admin or (
        manager is not None and (manager.id == actor.id or await manages(s, actor, manager))
    )
    if not allowed:
        raise NotAllowed(f"Only the manager of @{team.key} (or an admin) can set its targets.")
    name, value = args[1], args[2]
    try:
        if name == "on_time":
            share = float(value.rstrip("%")) / (100 if value.endswith("%") else 1)
            if not 0 < share <= 1:
                raise Refusal("The on-time target is a share between 0 and 1 (or a %).")
            team.target_on_time = share
        elif name == "first_response":
            minutes = int(value)
            if minutes <= 0:
                raise Refusal("The first-response target is a positive number of minutes.")
            team.target_first_response_minutes = minutes
        else:
            raise Refusal("Targets are on_time or first_response.", USAGE)
    except ValueError:
        raise Refusal(f"`{value}` is not a number.", USAGE) from None
    s.add(team)
    return _say(
        f"Targets of @{team.key}: on time {team.target_on_time:.0%}, first "
        f"response within {team.target_first_response_minutes} minutes."
    )


async def run(
    s: AsyncSession,
    *,
    app_policy: Policy,
    rules: Rules,
    actor: Person,
    verb: str,
    args: tuple[str, ...],
    platform: str | None,
) -> Message:
    verb = verb.lower()
    if verb == "policy" and not args:
        return _say("Policy: " + ", ".join(f"{k}={v}" for k, v in rules.policy.as_dict().items()))
    if verb == "digest":  # managers set their own digest; admins anyone's
        from bot import digests

        words = ("all", "at", "weekly", "all_clear", "all-clear", "on", "off")
        named = await _person(s, args[0], platform) if args and args[0] not in words else None
        rest = list(args[1:] if named else args)
        return await digests.configure(s, actor=actor, who=named, args=rest)
    if verb == "target":
        return await set_target(s, actor=actor, args=list(args))
    if not actor.is_admin:
        raise NotAllowed("Only admins can change the organisation. Ask one of them.", USAGE)
    a = list(args)
    try:
        if verb == "person" and a[:1] == ["add"] and len(a) >= 3:
            handle = normalise_handle(a[1])
            if not HANDLE.match(handle):
                raise Refusal(f"`{a[1]}` is not a valid handle (letters, digits, . _ -).")
            if await person_by_handle(s, handle) or await team_by_key(s, handle):
                raise Refusal(f"@{handle} already exists.")
            email = a[-1] if "@" in a[-1] and len(a) >= 4 else None
            name = " ".join(a[2 : -1 if email else None])
            s.add(Person(handle=handle, name=name, email=email.lower() if email else None))
            return _say(f"Added @{handle} ({name}).")
        if verb == "team" and a[:1] == ["add"] and len(a) >= 3:
            key = normalise_handle(a[1])
            if not HANDLE.match(key):
                raise Refusal(f"`{a[1]}` is not a valid team key.")
            if await team_by_key(s, key) or await person_by_handle(s, key):
                raise Refusal(f"@{key} already exists.")
            s.add(Team(key=key, name=" ".join(a[2:])))
            return _say(f"Added the team @{key}.")
        if verb == "member" and len(a) == 3 and a[0] in ("add", "remove"):
            team = await team_by_key(s, a[1])
            if team is None:
                raise Refusal(f"There is no team @{normalise_handle(a[1])}.")
            person = await _person(s, a[2], platform)
            assert team.id is not None and person.id is not None
            member = await s.get(Membership, (team.id, person.id))
            if a[0] == "add":
                if member is None:
                    s.add(Membership(team_id=team.id, person_id=person.id))
                return _say(f"@{person.handle} is in @{team.key}.")
            if member is not None:
                await s.delete(member)
            return _say(f"@{person.handle} is no longer in @{team.key}.")
        if verb == "manager" and len(a) == 2:
            who = await _target(s, a[0], platform)
            manager = await _person(s, a[1], platform)
            if isinstance(who, Person) and who.id == manager.id:
                raise Refusal("Nobody manages themselves.")
            who.manager_id = manager.id
            s.add(who)
            return _say(f"{who.name} is managed by {manager.name}.")
        if verb == "backup" and len(a) == 2:
            person = await _person(s, a[0], platform)
            backup = await _person(s, a[1], platform)
            if person.id == backup.id:
                raise Refusal("A backup must be someone else.")
            person.backup_id = backup.id
            s.add(person)
            return _say(f"{backup.name} backs up {person.name}.")
        if verb == "calendar" and 2 <= len(a) <= 5:
            who = await _target(s, a[0], platform)
            fields: dict[str, str | None] = {"tz": a[1]}
            for word in a[2:]:
                if any(ch.isdigit() for ch in word):
                    fields["hours"] = word
                elif "-" in word or "," in word:
                    fields["workdays"] = word
                else:
                    fields["country"] = word.upper()
            try:
                probe = Person.model_validate({"handle": "x", "name": "x", **fields})
                calendar_of(probe, Calendar())
                if fields.get("workdays"):
                    parse_workdays(str(fields["workdays"]))
            except ValueError as exc:
                raise Refusal(f"That calendar doesn't work: {exc}", USAGE) from None
            for k, v in fields.items():
                setattr(who, k, v)
            s.add(who)
            return _say(
                f"Calendar of {who.name} set: " + ", ".join(f"{k} {v}" for k, v in fields.items())
            )
        if verb == "link" and len(a) == 3 and a[1] in ("slack", "teams"):
            person = await _person(s, a[0], None)
            column = Person.slack_id if a[1] == "slack" else Person.teams_id
            clash = (await s.exec(select(Person).where(column == a[2]))).first()
            if clash is not None and clash.id != person.id:
                raise Refusal(f"That {a[1]} id already belongs to @{clash.handle}.")
            setattr(person, "slack_id" if a[1] == "slack" else "teams_id", a[2])
            s.add(person)
            return _say(f"@{person.handle} is linked to {a[1]} id {a[2]}.")
        if verb == "admin" and len(a) == 2 and a[0] in ("add", "remove"):
            person = await _person(s, a[1], platform)
            if a[0] == "remove" and person.id == actor.id:
                raise Refusal("You can't remove yourself as admin.")
            person.is_admin = a[0] == "add"
            s.add(person)
            return _say(
                f"@{person.handle} is {'now' if person.is_admin else 'no longer'} an admin."
            )
        if verb == "policy" and a:
            row = await s.get(Setting, "policy")
            overrides = dict(row.value) if row else {}
            if a[0] in ("nudge", "at_risk", "buffer") and len(a) == 2:
                overrides[a[0]] = a[1]
            elif a[0] == "deadline" and len(a) >= 3:
                deadlines = dict(overrides.get("default_deadlines") or {})
                deadlines[a[1].upper()] = " ".join(a[2:])
                overrides["default_deadlines"] = deadlines
            else:
                raise Refusal("I can't read that policy change.", USAGE)
            try:
                policy = app_policy.with_changes(overrides)
            except ValueError as exc:
                raise Refusal(str(exc), USAGE) from None
            if row is None:
                row = Setting(name="policy", value=overrides)
            row.value = overrides
            s.add(row)
            return _say("Policy: " + ", ".join(f"{k}={v}" for k, v in policy.as_dict().items()))
    except (ValueError, IndexError):
        raise Refusal("I can't read that admin command.", USAGE) from None
    raise Refusal(f"I don't know `admin {verb}` used that way.", USAGE)


async def digest(
    s: AsyncSession, *, rules: Rules, actor: Person, team: str | None, now: datetime
) -> Message:
    """`/case digest [team]`: a manager's digest of their own people or teams (bot/digests.py)."""
    from bot import digests

    return await digests.on_demand(s, rules=rules, actor=actor, team=team, now=now)
