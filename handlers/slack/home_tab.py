"""Keeping App Home current: published when a person opens it, and again when a case or request
they are around changes (only for people who have opened it since this process started)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import involvement
from bot.directory import person_by_platform
from bot.runtime.app import Ownit
from handlers.slack.home import home_view
from handlers.slack.profiles import Profiles
from storage.states import Platform
from storage.tables import Person

log = logging.getLogger(__name__)


class Homes:
    def __init__(
        self,
        app: Ownit,
        client: AsyncWebClient,
        profiles: Profiles,
        *,
        thread_link: Callable[[str | None], Awaitable[str | None]],
        spawn: Callable[[Coroutine[Any, Any, Any]], Any],
    ) -> None:
        self.app = app
        self.client = client
        self.profiles = profiles
        self.thread_link = thread_link
        self.spawn = spawn
        self.seen: set[str] = set()
        self._due: set[str] = set()

    def opened(self, event: dict[str, Any]) -> None:
        """`app_home_opened`: publish it now, and keep it current from here on."""
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        user = str(event["user"])
        self.seen.add(user)
        self.spawn(self.publish(user))

    def case_changed(self, case_id: int) -> None:
        if self.seen:
            self.spawn(self._for_case(case_id))

    async def _for_case(self, case_id: int) -> None:
        async with self.app.db.reader() as s:
            people = await involvement.people_around(session=s, case_id=case_id)
        for p in people:
            self.changed(p)

    def changed(self, person: Person) -> None:
        if person.slack_id:
            self.changed_uid(person.slack_id)

    def changed_uid(self, user: str) -> None:
        if user not in self.seen or user in self._due:
            return
        self._due.add(user)
        self.spawn(self.publish(user))

    async def publish(self, user: str) -> None:
        self._due.discard(user)
        await self.profiles.link(self.app.db, {user})
        rules = await self.app.rules()
        now = await self.app.clock.now()
        async with self.app.db.reader() as s:
            person = await person_by_platform(s, Platform.SLACK, user)
            if person is None:
                return
            owned = await involvement.open_cases_owned(session=s, person=person)
        links = {}
        for case in owned:
            link = await self.thread_link(case.key)
            if link and case.id is not None:
                links[case.id] = link
        async with self.app.db.reader() as s:
            view = await home_view(s, person=person, rules=rules, now=now, links=links)
        try:
            await self.client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            log.warning("views.publish for %s failed: %s", user, exc.response.get("error"))
