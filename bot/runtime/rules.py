"""The rules in force: the configured policy with the overrides admins made, read now and then.

Every command, card and sweep asks for them, and they change only by an admin's command, so one
read serves a while (`fresh` seconds, chosen by the composition root).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.business_time import Calendar
from bot.directory import Rules
from bot.policy import Policy
from storage.db import Database
from storage.tables import Setting


@dataclass
class RulesCache:
    db: Database
    base_policy: Policy
    calendar: Calendar
    _rules: tuple[float, Rules] | None = None
    _version: int = 0

    async def read(self, *, fresh: float) -> Rules:
        """The rules, from the database at most once per `fresh` seconds."""
        cached = self._rules
        if cached is not None and time.monotonic() - cached[0] < fresh:
            return cached[1]
        version = self._version
        async with self.db.reader() as s:
            row = await s.get(Setting, "policy")
        policy = self.base_policy.with_changes(row.value) if row else self.base_policy
        rules = Rules(policy=policy, calendar=self.calendar)
        if version == self._version:  # not changed here while we read
            self._rules = (time.monotonic(), rules)
        return rules

    def changed(self) -> None:
        """An admin changed the policy here: the next `read()` reads it again."""
        self._rules = None
        self._version += 1
