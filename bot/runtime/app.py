"""The composition root: builds the database, clock, directory, scheduler and delivery.

Nothing is created at import time; `Ownit.start(settings)` does it all, so tests and replicas each
get their own engines and clocks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sqlmodel import select

from bot import directory
from bot.business_time import Calendar
from bot.clock import Clock, RealClock, SimClock
from bot.directory import Rules
from bot.policy import Policy
from bot.runtime.config import Settings
from bot.runtime.delivery import Channel, Deliverer
from bot.runtime.inbox import Arrivals, Inbox
from bot.runtime.metrics import Metrics
from bot.runtime.scheduler import Scheduler
from storage.db import Database
from storage.migrate import migrate
from storage.shared import LocalShared, Shared, make_shared
from storage.tables import Setting

log = logging.getLogger(__name__)

RULES_FRESH = 1.0
"""Seconds a replica reuses the policy it read: an admin's change made on another replica applies
within that long (on the replica that made it, at once)."""
WAKE_AFTER = 0.05  # announcements from other processes arriving together wake the loops once
CARDS_AFTER = 0.3  # and the cards a little later: the process that made a change posts its own


def example_org_file() -> Path:
    return Path(str(resources.files("bot").joinpath("org.example.yaml")))


def org_path(settings: Settings) -> Path | None:
    """The org file in use: the configured one, or the shipped example when none exists."""
    if settings.org_file.exists():
        return settings.org_file
    if "org_file" in settings.model_fields_set:
        raise directory.OrgFileError(f"OWNIT_ORG_FILE: {settings.org_file} does not exist")
    return example_org_file()


@dataclass
class Ownit:
    settings: Settings
    db: Database
    clock: Clock
    base_policy: Policy
    calendar: Calendar
    scheduler: Scheduler
    deliverer: Deliverer
    inbox: Inbox
    org_file: Path | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    shared: Shared = field(default_factory=LocalShared)
    metrics: Metrics = field(default_factory=Metrics)
    _pending: set[asyncio.Task[Any]] = field(default_factory=set)
    case_hooks: list[Callable[[str], None]] = field(default_factory=list)
    wake_hooks: list[Callable[[], None]] = field(default_factory=list)
    _rules: tuple[float, Rules] | None = None
    _rules_version: int = 0
    _waking: asyncio.TimerHandle | None = None

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        simulated: bool | None = None,
        channels: list[Channel] | None = None,
    ) -> Ownit:
        db = Database(settings.database_url)
        await migrate(db)
        path = org_path(settings)
        data = directory.read_org_file(path) if path else {}
        calendar = directory.default_calendar(data, settings.timezone)
        policy = directory.policy_from(data)
        async with db.session() as s:
            await directory.apply_org(s, data)
        sim = settings.clock == "sim" if simulated is None else simulated
        clock: Clock = SimClock(db) if sim else RealClock()
        shared = make_shared(settings.redis_url, settings.database_url)
        metrics = Metrics()
        metrics.watch_redis(lambda: shared.available)
        app: Ownit
        scheduler = Scheduler(
            db=db,
            clock=clock,
            rules=lambda: app.rules(),
            metrics=metrics,
            on_fired=lambda keys: app.case_changed(*keys),
        )
        arrivals = Arrivals()
        deliverer = Deliverer(
            db=db,
            channels=channels,
            shared=shared,
            metrics=metrics,
            clock=clock,
            arrivals=arrivals,
        )
        app = cls(
            settings,
            db,
            clock,
            policy,
            calendar,
            scheduler,
            deliverer,
            Inbox(
                db,
                metrics,
                lease=settings.inbox_lease,
                workers=settings.inbox_workers,
                arrivals=arrivals,
                handles=settings.handles,
            ),
            org_file=path,
            shared=shared,
            metrics=metrics,
        )
        return app

    async def rules(self) -> Rules:
        """Policy as configured, with the overrides admins made at run time.

        Read at most once per `RULES_FRESH` seconds: every command, card and sweep needs it, and
        it changes only by an admin's command.
        """
        cached = self._rules
        if cached is not None and time.monotonic() - cached[0] < RULES_FRESH:
            return cached[1]
        version = self._rules_version
        async with self.db.reader() as s:
            row = await s.get(Setting, "policy")
        policy = self.base_policy.with_changes(row.value) if row else self.base_policy
        rules = Rules(policy=policy, calendar=self.calendar)
        if version == self._rules_version:  # not changed here while we read
            self._rules = (time.monotonic(), rules)
        return rules

    def rules_changed(self) -> None:
        """An admin changed the policy here: the next `rules()` reads it again."""
        self._rules = None
        self._rules_version += 1

    def poke(self) -> None:
        """Something changed: let the scheduler and delivery look now rather than later.

        Other replicas hear of it too (through Redis), so a timer made here is honoured promptly
        by whichever scheduler gets to it first.
        """
        self.scheduler.wake.set()
        self.deliverer.wake.set()
        if self.shared.kind != "local":
            try:
                task = asyncio.get_running_loop().create_task(self.shared.announce())
            except RuntimeError:
                return
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def case_changed(self, *keys: str | None) -> None:
        """Tell the platforms that these cases and requests (`C-…`, `R-…`) changed (a Slack card
        and the posts of the requests named update in place).

        Hooks must not block: they note the key and do their work in their own tasks.
        """
        for key in dict.fromkeys(k for k in keys if k):
            for hook in self.case_hooks:
                try:
                    hook(key)
                except Exception:
                    log.exception("case hook failed for %s", key)

    async def settle(self) -> None:
        """Handle what was received, fire what is due and deliver what is queued, until nothing is
        left (console, tests)."""
        while True:
            await self.inbox.settled()
            fired = await self.scheduler.sweep()
            sent = await self.deliverer.drain()
            if not fired and not sent:
                return

    def run_background(self) -> None:
        """The background work of a handling process; one that only acknowledges has none."""
        if not self.settings.handles:
            return
        self.tasks.append(asyncio.create_task(self.scheduler.run(self.stop), name="scheduler"))
        self.tasks.append(asyncio.create_task(self.deliverer.run(self.stop), name="delivery"))
        self.tasks.append(
            asyncio.create_task(self.shared.listen(self.stop, self._woken), name="wake")
        )
        self.tasks.append(asyncio.create_task(self.inbox.run(self.stop), name="inbox"))
        from bot.digests import Digester

        self.tasks.append(asyncio.create_task(Digester(self).run(self.stop), name="digests"))

    def _woken(self) -> None:
        """Another process changed something (a web process handling a modal among them): look
        at the timers and notices in a moment, and at the cards a little after.

        Under load every command is announced; one look covers all that arrived meanwhile.
        """
        if self._waking is None:
            self._waking = asyncio.get_running_loop().call_later(WAKE_AFTER, self._wake)

    def _wake(self) -> None:
        self._waking = None
        self.scheduler.wake.set()
        self.deliverer.wake.set()
        if self.wake_hooks:
            asyncio.get_running_loop().call_later(CARDS_AFTER, self._wake_cards)

    def _wake_cards(self) -> None:
        for hook in self.wake_hooks:
            hook()

    async def close(self) -> None:
        self.stop.set()
        self.poke()
        for task in self.tasks:
            try:
                await asyncio.wait_for(task, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        await self.inbox.close()
        await self.shared.close()
        await self.db.dispose()

    async def people_count(self) -> int:
        from storage.tables import Person

        async with self.db.reader() as s:
            return len((await s.exec(select(Person.id))).all())
