"""Slack users as people: name, time zone and e-mail from `users.info`, cached.

A Slack user becomes a person only as `bot.access` decides from what `users.info` says (a guest,
a bot, or someone of another workspace does not; someone of the org file by e-mail does).

The cache is a tiny get/set interface storing JSON-ready dicts, so a Redis twin can stand in for
the in-process one when several replicas share the work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot import access
from bot.commands.origin import Origin
from bot.directory import ensure_platform_person
from storage.db import Database
from storage.states import Platform
from storage.tables import Person

log = logging.getLogger(__name__)

TTL = 6 * 3600.0
LINKED_FOR = 600.0  # seconds a Slack user seen linked to a person is not looked up again
LINKED_MAX = 10_000


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    email: str | None = None
    tz: str | None = None
    is_bot: bool = False
    guest: bool = False  # a multi- or single-channel guest (`is_restricted`, `is_ultra_restricted`)
    team: str | None = None  # the workspace the user belongs to


class ProfileCache(Protocol):
    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def set(self, key: str, value: dict[str, Any], ttl: float) -> None: ...


class MemoryProfileCache:
    """The embedded cache: a dict with expiry times."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._data: dict[str, tuple[float, dict[str, Any]]] = {}
        self._clock = clock

    async def get(self, key: str) -> dict[str, Any] | None:
        hit = self._data.get(key)
        if hit is None:
            return None
        expires, value = hit
        if expires < self._clock():
            self._data.pop(key, None)
            return None
        return value

    async def set(self, key: str, value: dict[str, Any], ttl: float) -> None:
        self._data[key] = (self._clock() + ttl, value)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()


def profile_from_user(user: dict[str, Any]) -> Profile:
    prof = user.get("profile") or {}
    name = (
        prof.get("real_name")
        or user.get("real_name")
        or prof.get("display_name")
        or user.get("name")
        or user.get("id", "")
    )
    return Profile(
        id=str(user.get("id", "")),
        name=str(name),
        email=(str(prof["email"]).lower() if prof.get("email") else None),
        tz=str(user["tz"]) if user.get("tz") else None,
        is_bot=bool(user.get("is_bot")) or user.get("id") == "USLACKBOT",
        guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
        team=str(user["team_id"]) if user.get("team_id") else None,
    )


def facts(uid: str, profile: Profile | None, workspace: str | None, team: str = "") -> Origin:
    """What Slack says of a user, as the command origin `bot.access` decides from."""
    return Origin(
        Platform.SLACK,
        uid,
        name=profile.name if profile else None,
        email=profile.email if profile else None,
        tz=profile.tz if profile else None,
        guest=profile.guest if profile else False,
        bot=profile.is_bot if profile else False,
        known=profile is not None,
        home=(profile.team if profile else None) or team or None,
        org_home=workspace,
    )


class Profiles:
    def __init__(
        self,
        client: AsyncWebClient,
        cache: ProfileCache | None = None,
        ttl: float = TTL,
        *,
        workspace: Callable[[], str | None] | None = None,
    ) -> None:
        self.client = client
        self.workspace = workspace
        self.cache: ProfileCache = cache or MemoryProfileCache()
        self.ttl = ttl
        self.lookups = 0
        self._linked: dict[str, float] = {}  # Slack user → when last seen linked (monotonic)

    async def get(self, uid: str) -> Profile | None:
        key = f"slack:user:{uid}"
        hit = await self.cache.get(key)
        if hit is not None:
            return Profile(**hit)
        try:
            self.lookups += 1
            resp = await self.client.users_info(user=uid)
        except SlackApiError as exc:
            log.warning("users.info %s failed: %s", uid, exc.response.get("error"))
            return None
        user = resp.get("user")
        if not isinstance(user, dict):
            return None
        profile = profile_from_user(user)
        await self.cache.set(key, asdict(profile), self.ttl)
        return profile

    def org_home(self) -> str | None:
        """The organisation's own workspace (from `auth.test`), once Slack has said it."""
        return self.workspace() if self.workspace else None

    async def link(self, db: Database, uids: set[str]) -> dict[str, Origin]:
        """Make sure each Slack user who counts as a person is one, linked by e-mail to the org
        file's entry; what Slack said of those looked up now (not yet people) is returned."""
        now = time.monotonic()
        uids = {u for u in uids if u and now - self._linked.get(u, now - LINKED_FOR) >= LINKED_FOR}
        if not uids:
            return {}  # the usual case: everyone named was linked moments ago
        async with db.reader() as s:
            known = set(
                (await s.exec(select(Person.slack_id).where(col(Person.slack_id).in_(uids)))).all()
            )
        self._seen_linked({k for k in known if k}, now)
        missing = sorted(uids - {k for k in known if k})
        if not missing:
            return {}
        found = await asyncio.gather(*(self.get(u) for u in missing))
        said = {uid: facts(uid, p, self.org_home()) for uid, p in zip(missing, found, strict=True)}
        linked = set()
        for uid, origin in said.items():
            for _attempt in range(2):
                try:
                    async with db.session() as s:
                        person = await ensure_platform_person(
                            s,
                            platform=Platform.SLACK,
                            uid=uid,
                            name=origin.name,
                            email=origin.email,
                            tz=origin.tz,
                            member=access.full_member(origin),
                        )
                    if person is not None:
                        linked.add(uid)
                    break
                except IntegrityError:
                    continue  # someone else linked them at the same moment
        self._seen_linked(linked, now)
        return said

    def _seen_linked(self, uids: set[str], now: float) -> None:
        """Remember for a while who is linked: every command names its author, and looking them
        up each time was a query per command."""
        if len(self._linked) > LINKED_MAX:
            self._linked.clear()
        for uid in uids:
            self._linked[uid] = now

    async def link_by_email(self, db: Database) -> int:
        """Give people of the org file their Slack id by e-mail (`users.lookupByEmail`).

        Without it a manager who never spoke to the bot could not get an escalation.
        """
        async with db.reader() as s:
            people = (
                await s.exec(
                    select(Person).where(
                        col(Person.slack_id).is_(None), col(Person.email).is_not(None)
                    )
                )
            ).all()
        linked = 0
        for person in people:
            linked += await self.link_one(db, person) is not None
        return linked

    async def link_one(self, db: Database, person: Person) -> str | None:
        """Give one person of the org file their Slack id by e-mail; the id, or None when Slack
        knows no such member (or someone else has that id)."""
        if person.email is None:
            return None
        key = f"slack:email:{person.email}"
        hit = await self.cache.get(key)
        if hit is None:
            try:
                self.lookups += 1
                resp = await self.client.users_lookupByEmail(email=person.email)
                user = resp.get("user")
                hit = asdict(profile_from_user(user)) if isinstance(user, dict) else {}
            except SlackApiError as exc:
                if exc.response.get("error") not in ("users_not_found", "user_not_found"):
                    log.warning("users.lookupByEmail failed: %s", exc.response.get("error"))
                    return None
                hit = {}
            await self.cache.set(key, hit, self.ttl)
        if not hit or hit.get("is_bot"):
            return None
        try:
            async with db.session() as s:
                fresh = await s.get(Person, person.id)
                if fresh is None:
                    return None
                if fresh.slack_id:
                    return fresh.slack_id  # linked meanwhile (the start's pass)
                taken = (await s.exec(select(Person).where(Person.slack_id == hit["id"]))).first()
                if taken is not None:
                    return None
                fresh.slack_id = hit["id"]
                fresh.tz = fresh.tz or hit.get("tz")
                s.add(fresh)
        except IntegrityError:
            return None
        return str(hit["id"])


NEAR_FOR = 60.0  # seconds a profile read from the shared store is kept in process as well
NEAR_MAX = 10_000


class SharedProfileCache:
    """Profiles in the app's shared store (in-process alone, Redis when replicas share one),
    with the ones used in the last minute kept in process too: every command looks up its
    author, and a Redis round trip each time bought nothing (a profile is kept for hours)."""

    def __init__(self, shared: Any) -> None:
        self.shared = shared
        self.near = MemoryProfileCache()

    async def get(self, key: str) -> dict[str, Any] | None:
        if (kept := await self.near.get(key)) is not None:
            return kept
        value = await self.shared.get(key)
        if not isinstance(value, dict):
            return None
        await self._keep(key, value)
        return value

    async def set(self, key: str, value: dict[str, Any], ttl: float) -> None:
        await self.shared.put(key, value, ttl)
        await self._keep(key, value)

    async def _keep(self, key: str, value: dict[str, Any]) -> None:
        if len(self.near) >= NEAR_MAX:
            self.near.clear()
        await self.near.set(key, value, NEAR_FOR)
