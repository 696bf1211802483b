"""People, teams, managers, backups and calendars.

The org file (`ownit.yaml`) is applied on every start: what it names it sets, and what it does not
name (people first seen on a platform, changes made with `/case admin`) it leaves alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import people_cache
from bot.business_time import Calendar, parse_workdays
from bot.errors import NotFound, Refusal
from bot.messages import YAML_LOADER, Mention, sentence
from bot.policy import Policy
from storage.states import Platform
from storage.tables import Membership, Person, Team

HANDLE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


@dataclass(frozen=True)
class Rules:
    """What every service needs to know about the organisation besides its data."""

    policy: Policy
    calendar: Calendar


class OrgFileError(ValueError):
    pass


@dataclass(frozen=True)
class Ref:
    """Someone or some team named in a command, not yet resolved against the directory.

    `kind` says how they were named: a platform user id, a platform user group, or a handle or
    team key typed as text.
    """

    kind: Literal["user", "team", "name"]
    value: str
    label: str | None = None


def mention(p: Person) -> Mention:
    return Mention(p.handle, p.name, p.slack_id, p.teams_id)


def calendar_of(who: Person | Team | None, default: Calendar) -> Calendar:
    """A person's or team's own calendar, falling back field by field to the default."""
    if who is None:
        return default
    return _calendar(who.tz, who.workdays, who.hours, who.country, who.subdiv, default)


@lru_cache(maxsize=1024)
def _calendar(
    tz: str | None,
    workdays: str | None,
    hours: str | None,
    country: str | None,
    subdiv: str | None,
    default: Calendar,
) -> Calendar:
    """One calendar for each combination of fields, kept with the business days it has worked
    out: a command asks about the same few people's calendars many times over."""
    start, end = (default.start, default.end)
    if hours:
        start, end = Calendar.parse_hours(hours)
    return Calendar(
        tz=tz or default.tz,
        workdays=parse_workdays(workdays) if workdays else default.workdays,
        start=start,
        end=end,
        country=country if country is not None else default.country,
        subdiv=subdiv if subdiv is not None else default.subdiv,
    )


def normalise_handle(text: str) -> str:
    return text.strip().lstrip("@").lower()


async def person_by_handle(session: AsyncSession, handle: str) -> Person | None:
    return await people_cache.by_handle(session, normalise_handle(handle))


async def person_by_platform(session: AsyncSession, platform: str, uid: str) -> Person | None:
    return await people_cache.by_platform(session, platform, uid)


async def team_by_key(session: AsyncSession, key: str) -> Team | None:
    res = await session.exec(select(Team).where(Team.key == normalise_handle(key)))
    return res.first()


async def team_by_slack_group(session: AsyncSession, gid: str) -> Team | None:
    return (await session.exec(select(Team).where(Team.slack_group_id == gid))).first()


async def members(session: AsyncSession, team: Team) -> list[Person]:
    res = await session.exec(
        select(Person)
        .join(Membership, col(Membership.person_id) == col(Person.id))
        .where(Membership.team_id == team.id)
        .order_by(col(Person.id))
    )
    return list(res.all())


async def is_member(session: AsyncSession, team_id: int, person_id: int) -> bool:
    return await session.get(Membership, (team_id, person_id)) is not None


async def manager_of(session: AsyncSession, who: Person | Team | None) -> Person | None:
    if who is None or who.manager_id is None:
        return None
    return await session.get(Person, who.manager_id)


async def manages(session: AsyncSession, manager: Person, person: Person) -> bool:
    """True if `manager` is above `person` in the management chain."""
    seen: set[int] = set()
    current: Person | None = person
    while current is not None and current.manager_id is not None:
        if current.manager_id == manager.id:
            return True
        if current.manager_id in seen:
            return False
        seen.add(current.manager_id)
        current = await session.get(Person, current.manager_id)
    return False


def unique_handle_base(name: str) -> str:
    base = re.sub(r"[^a-z0-9._-]+", ".", name.strip().lower()).strip(".-_") or "user"
    return base[:60]


async def free_handle(session: AsyncSession, base: str) -> str:
    handle, n = base, 1
    while await person_by_handle(session, handle) is not None:
        n += 1
        handle = f"{base}{n}"
    return handle


async def ensure_platform_person(
    session: AsyncSession,
    *,
    platform: str,
    uid: str,
    name: str | None = None,
    email: str | None = None,
    tz: str | None = None,
    member: bool,
) -> Person | None:
    """The person behind a platform user id; None for someone who is not one (docs/SECURITY.md).

    Someone listed in the org file with the same e-mail is linked rather than duplicated, which
    is how one person comes to carry both a Slack id and a Teams id. Anyone else is added on
    first sight, with the default calendar, only when `member`: a full member of the
    organisation's own workspace or tenant (as `bot.access.full_member` decides).
    """
    if not uid.strip():
        return None
    found = await person_by_platform(session, platform, uid)
    if found is not None:
        return found
    person = None
    if email:
        person = (await session.exec(select(Person).where(Person.email == email.lower()))).first()
    if person is None:
        if not member:
            return None
        person = Person(
            handle=await free_handle(session, unique_handle_base(name or email or uid)),
            name=name or uid,
            email=email.lower() if email else None,
            tz=tz,
        )
    if platform == Platform.SLACK:
        person.slack_id = uid
    else:
        person.teams_id = uid
    session.add(person)
    await session.flush()
    return person


async def resolve(session: AsyncSession, ref: Ref, *, platform: str | None = None) -> Person | Team:
    """A command's Ref to a Person or Team, or a NotFound that says who was not found."""
    if ref.kind == "user":  # the platform linked everyone it mentions who counts as a person
        person = await person_by_platform(session, platform or Platform.SLACK, ref.value)
        if person is None:
            raise NotFound(sentence("access_not_a_person_named", who=ref.label or ref.value))
        return person
    if ref.kind == "team":
        team = await team_by_slack_group(session, ref.value)
        if team is None and ref.label:
            team = await team_by_key(session, ref.label)
        if team is None:
            raise NotFound(f"I don't know the team @{ref.label or ref.value}.")
        return team
    name = normalise_handle(ref.value)
    person = await person_by_handle(session, name)
    if person is not None:
        return person
    team = await team_by_key(session, name)
    if team is not None:
        return team
    raise NotFound(
        f"I don't know anyone or any team called @{name}. "
        "Mention them, or an admin can add them with `/case admin person add`."
    )


async def resolve_person(session: AsyncSession, ref: Ref, *, platform: str | None = None) -> Person:
    found = await resolve(session, ref, platform=platform)
    if not isinstance(found, Person):
        raise Refusal(f"@{found.key} is a team; name one person here.")
    return found


def is_away(p: Person, now: datetime) -> bool:
    return p.away_until is not None and p.away_until > now


# --- the org file -------------------------------------------------------------------------------


def _calendar_fields(entry: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "timezone" in entry:
        out["tz"] = str(entry["timezone"])
    if "hours" in entry:
        out["hours"] = str(entry["hours"])
    if "workdays" in entry:
        out["workdays"] = str(entry["workdays"])
    if "country" in entry:
        out["country"] = str(entry["country"]) if entry["country"] else None
    if "subdiv" in entry:
        out["subdiv"] = str(entry["subdiv"]) if entry["subdiv"] else None
    try:
        calendar_of(Person(handle="x", name="x", **out), Calendar())
    except ValueError as exc:
        raise OrgFileError(f"{where}: {exc}") from exc
    return out


def _topics(entry: dict[str, Any], where: str) -> list[str] | None:
    """`topics:` of a person or team: a list of words or a comma-separated line, each kept short."""
    raw = entry.get("topics")
    if raw is None:
        return None
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        raise OrgFileError(f"{where}.topics: give a list of words, like [billing, invoices]")
    topics = [" ".join(t.lower().split()) for t in items]
    if any(not t or len(t) > 60 for t in topics) or len(topics) > 50:
        raise OrgFileError(f"{where}.topics: up to 50 topics of 1 to 60 characters each")
    return list(dict.fromkeys(topics))


def read_org_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text("utf-8"), Loader=YAML_LOADER) or {}
    except yaml.YAMLError as exc:
        raise OrgFileError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise OrgFileError(f"{path}: expected a mapping with people:, teams:, policy:")
    return data


def default_calendar(data: dict[str, Any], tz: str) -> Calendar:
    defaults = dict(data.get("defaults") or {})
    defaults.setdefault("timezone", tz)
    fields = _calendar_fields(defaults, "defaults")
    return calendar_of(Person(handle="x", name="x", **fields), Calendar())


def policy_from(data: dict[str, Any], base: Policy | None = None) -> Policy:
    try:
        return (base or Policy()).with_changes(dict(data.get("policy") or {}))
    except ValueError as exc:
        raise OrgFileError(f"policy: {exc}") from exc


async def apply_org(session: AsyncSession, data: dict[str, Any]) -> None:
    """Upsert people and teams from the org file; validate everything before writing."""
    people = list(data.get("people") or [])
    teams = list(data.get("teams") or [])
    admins = {normalise_handle(a) for a in data.get("admins") or []}
    # Everyone and every team there is, read once: every process applies the file on start.
    known = {p.handle: p for p in (await session.exec(select(Person))).all()}
    known_teams = {t.key: t for t in (await session.exec(select(Team))).all()}
    joined = {(m.team_id, m.person_id) for m in (await session.exec(select(Membership))).all()}
    by_handle: dict[str, Person] = {}
    for i, entry in enumerate(people):
        where = f"people[{i}]"
        if not isinstance(entry, dict) or "handle" not in entry:
            raise OrgFileError(f"{where}: each person needs a handle")
        handle = normalise_handle(str(entry["handle"]))
        if not HANDLE.match(handle):
            raise OrgFileError(f"{where}: {handle!r} is not a valid handle")
        fields = _calendar_fields(entry, where)
        topics = _topics(entry, where)
        person = known.get(handle)
        if person is None:
            person = known[handle] = Person(handle=handle, name=str(entry.get("name") or handle))
        person.name = str(entry.get("name") or person.name)
        for key in ("email", "slack_id", "teams_id"):
            if entry.get(key):
                setattr(person, key, str(entry[key]).lower() if key == "email" else str(entry[key]))
        for key, value in fields.items():
            setattr(person, key, value)
        person.is_admin = handle in admins or bool(entry.get("admin"))
        if topics is not None:
            person.topics = topics
        session.add(person)
        by_handle[handle] = person
    await session.flush()

    async def lookup(handle: Any, where: str) -> Person:
        h = normalise_handle(str(handle))
        p = known.get(h)
        if p is None:
            raise OrgFileError(f"{where}: unknown person {h!r}")
        return p

    for i, entry in enumerate(people):
        person = by_handle[normalise_handle(str(entry["handle"]))]
        if entry.get("manager"):
            person.manager_id = (await lookup(entry["manager"], f"people[{i}].manager")).id
        if entry.get("backup"):
            person.backup_id = (await lookup(entry["backup"], f"people[{i}].backup")).id
        if entry.get("away_until"):
            raise_if_naive = entry["away_until"]
            if not isinstance(raise_if_naive, datetime) or raise_if_naive.tzinfo is None:
                raise OrgFileError(f"people[{i}].away_until: give an ISO time with an offset")
            person.away_until = raise_if_naive
    for i, entry in enumerate(teams):
        where = f"teams[{i}]"
        if not isinstance(entry, dict) or "key" not in entry:
            raise OrgFileError(f"{where}: each team needs a key")
        key = normalise_handle(str(entry["key"]))
        if not HANDLE.match(key):
            raise OrgFileError(f"{where}: {key!r} is not a valid team key")
        if key in known:
            raise OrgFileError(f"{where}: {key!r} is already a person's handle")
        team = known_teams.get(key)
        if team is None:
            team = known_teams[key] = Team(key=key, name=key)
        team.name = str(entry.get("name") or team.name)
        if (topics := _topics(entry, where)) is not None:
            team.topics = topics
        for k, v in _calendar_fields(entry, where).items():
            setattr(team, k, v)
        if entry.get("manager"):
            team.manager_id = (await lookup(entry["manager"], f"{where}.manager")).id
        if entry.get("slack_group_id"):
            team.slack_group_id = str(entry["slack_group_id"])
        targets = dict(entry.get("targets") or {})
        if "on_time" in targets:
            team.target_on_time = float(targets["on_time"])
        if "first_response_minutes" in targets:
            team.target_first_response_minutes = int(targets["first_response_minutes"])
        session.add(team)
        await session.flush()
        for m in entry.get("members") or []:
            member = await lookup(m, f"{where}.members")
            assert team.id is not None and member.id is not None
            if (team.id, member.id) not in joined:
                joined.add((team.id, member.id))
                session.add(Membership(team_id=team.id, person_id=member.id))
    await session.flush()
