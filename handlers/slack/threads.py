"""Links to a case's home thread in Slack, remembered once the card is posted (it never moves)
for as long as the workspace's address is the same."""

from __future__ import annotations

from collections.abc import Callable

from bot import cases
from bot.errors import Refusal
from storage.db import Database
from storage.states import Platform
from storage.tables import Case

KEEP_AT_MOST = 50_000


class ThreadLinks:
    def __init__(self, db: Database, workspace_url: Callable[[], str | None]) -> None:
        self.db = db
        self.workspace_url = workspace_url
        self._links: dict[tuple[str, str | None], str] = {}

    async def link(self, case_key: str | None) -> str | None:
        if not case_key:
            return None
        key = (case_key, self.workspace_url())
        found = self._links.get(key)
        if found is None:
            found = await self.read(case_key)
            if found is not None:
                if len(self._links) > KEEP_AT_MOST:
                    self._links.clear()
                self._links[key] = found
        return found

    async def read(self, case_key: str | None) -> str | None:
        """The link as the database has it now (None: not a Slack case, or no card yet)."""
        if not case_key:
            return None
        try:
            case_id = cases.parse_key(case_key, "C")
        except Refusal:
            return None
        async with self.db.reader() as s:
            case = await s.get(Case, case_id)
        if case is None or case.platform != Platform.SLACK or not case.channel or not case.thread:
            return None
        base = self.workspace_url() or "https://slack.com/"
        if not base.endswith("/"):
            base += "/"
        return f"{base}archives/{case.channel}/p{case.thread.replace('.', '')}"
