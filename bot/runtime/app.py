"""The composition root: builds the database, clock, directory, scheduler and delivery.

Nothing is created at import time; `Ownit.start(settings)` does it all, so tests and replicas each
get their own engines and clocks. The jobs are parts of their own: the rules cache
(`runtime.rules`), the change hooks and wake-ups (`runtime.hooks`) and the background loops
(`runtime.tasks`); `Ownit` builds them, hands each loop what it needs, and closes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bot import directory, people_cache
from bot.assist import Model, ModelConfig
from bot.assist.summaries import Summariser
from bot.business_time import Calendar
from bot.clock import Clock, RealClock, SimClock
from bot.digests import Digester
from bot.directory import Rules
from bot.policy import Policy
from bot.runtime.config import Settings
from bot.runtime.delivery import Channel, Deliverer
from bot.runtime.hooks import PEOPLE, POLICY, ChangeHooks
from bot.runtime.inbox import Inbox
from bot.runtime.metrics import Metrics
from bot.runtime.rules import RulesCache
from bot.runtime.scheduler import Scheduler
from bot.runtime.tasks import Background
from storage.db import Database
from storage.migrate import migrate
from storage.shared import LocalShared, Shared, make_shared

log = logging.getLogger(__name__)

RULES_FRESH = 1.0
"""Seconds a replica reuses the policy it read while it hears no wake-ups (no Redis, or Redis
down): an admin's change made on another replica applies within that long (on the replica that
made it, at once)."""

RULES_KEPT = 600.0
"""... and while it hears them: a change is announced ("policy") and read again at once; this is
a backstop in case the announcement was lost."""


def rules_fresh(shared: Shared) -> float:
    """How long the policy read may serve, given whether other replicas' changes are heard."""
    return RULES_KEPT if shared.subscribed else RULES_FRESH


def example_org_file() -> Path:
    return Path(str(resources.files("bot").joinpath("org.example.yaml")))


def org_path(settings: Settings) -> Path | None:
    """The org file in use: the configured one, or the shipped example when none exists."""
    if settings.org_file.exists():
        return settings.org_file
    if "org_file" in settings.model_fields_set:
        raise directory.OrgFileError(f"OWNIT_ORG_FILE: {settings.org_file} does not exist")
    return example_org_file()


def model_config(settings: Settings) -> ModelConfig:
    return ModelConfig(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        model=settings.openai_model,
        azure_endpoint=settings.azure_openai_endpoint,
        azure_api_key=settings.azure_openai_api_key,
        api_version=settings.openai_api_version,
        timeout=settings.ai_timeout,
        daily_tokens=settings.ai_daily_tokens,
        redact=settings.ai_redact,
    )


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
    policy: RulesCache
    hooks: ChangeHooks
    org_file: Path | None = None
    shared: Shared = field(default_factory=LocalShared)
    metrics: Metrics = field(default_factory=Metrics)
    background: Background = field(default_factory=Background)
    digests: Digester | None = None  # the digest loop of `run_background`
    assist: Model | None = None  # the language model (off without a key); see `model_config`
    summaries: Summariser | None = None  # sums up long cases after they change (AI only)

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        simulated: bool | None = None,
        channels: list[Channel] | None = None,
    ) -> Ownit:
        db = Database(settings.database_url, pool_size=2 * settings.db_pool)
        await migrate(db)
        shared = make_shared(settings.redis_url, settings.database_url)
        hooks = ChangeHooks(shared)
        people = people_cache.of(db.engine.sync_engine)
        people.subscribed = lambda: shared.subscribed
        people.written = lambda: hooks.announce(PEOPLE)  # the org file's changes included
        path = org_path(settings)
        data = directory.read_org_file(path) if path else {}
        calendar = directory.default_calendar(data, settings.timezone)
        base_policy = directory.policy_from(data)
        async with db.session() as s:
            await directory.apply_org(s, data)
        sim = settings.clock == "sim" if simulated is None else simulated
        clock: Clock = SimClock(db) if sim else RealClock()
        metrics = Metrics()
        metrics.watch_redis(lambda: shared.available)
        policy = RulesCache(db, base_policy, calendar)
        hooks.forgets[PEOPLE] = [people.forget]
        hooks.forgets[POLICY] = [policy.changed]

        async def rules() -> Rules:
            return await policy.read(fresh=rules_fresh(shared))

        scheduler = Scheduler(
            db=db,
            clock=clock,
            rules=rules,
            metrics=metrics,
            on_fired=lambda keys: hooks.case_changed(*keys),
        )
        deliverer = Deliverer(
            db=db,
            channels=channels,
            shared=shared,
            metrics=metrics,
            clock=clock,
        )
        hooks.wakes.append(deliverer.wake)
        hooks.woken_hooks.append(deliverer.look)
        hooks.timer_wakes.append(scheduler.wake)
        inbox = Inbox(
            db,
            metrics,
            lease=settings.inbox_lease,
            workers=settings.inbox_workers,
            handles=settings.handles,
        )
        assist = Model(model_config(settings), db=db, metrics=metrics)
        if not assist.on:
            log.info("AI assist is off (no OPENAI_API_KEY): drafts and summaries use templates")
        summariser = Summariser(
            db=db, model=assist, clock=clock, shared=shared, redraw=hooks.case_changed
        )
        if settings.handles:  # a process that only acknowledges makes no summaries
            hooks.case_hooks.append(summariser.changed)
        return cls(
            settings,
            db,
            clock,
            base_policy,
            calendar,
            scheduler,
            deliverer,
            inbox,
            policy,
            hooks,
            org_file=path,
            shared=shared,
            metrics=metrics,
            assist=assist,
            summaries=summariser,
        )

    @property
    def model(self) -> Model:
        assert self.assist is not None, "started by Ownit.start"
        return self.assist

    @property
    def tasks(self) -> list[asyncio.Task[Any]]:
        return self.background.tasks

    @property
    def stop(self) -> asyncio.Event:
        return self.background.stop

    @property
    def case_hooks(self) -> list[Callable[[str], None]]:
        return self.hooks.case_hooks

    @property
    def wake_hooks(self) -> list[Callable[[], None]]:
        return self.hooks.wake_hooks

    async def rules(self) -> Rules:
        """Policy as configured, with the overrides admins made at run time (read again after a
        change, see `rules_fresh`)."""
        return await self.policy.read(fresh=rules_fresh(self.shared))

    def rules_changed(self) -> None:
        """An admin changed the policy here: the next `rules()` reads it again, here and on the
        other replicas."""
        self.policy.changed()
        self.hooks.announce(POLICY)

    def poke(self, *, timers: bool = True) -> None:
        """Something changed: the scheduler and delivery look now, here and on other replicas
        (`timers=False`: the scheduler here need not, see `Scheduler.wanted`)."""
        self.hooks.poke(timers=timers)

    def case_changed(
        self, *keys: str | None, rows: Collection[object] = (), made: Collection[int] = ()
    ) -> None:
        """Tell the platforms that these cases and requests (`C-…`, `R-…`) changed (`rows`,
        `made`: see `ChangeHooks.case_changed`)."""
        self.hooks.case_changed(*keys, rows=rows, made=made)

    def digester(self) -> Digester:
        """A digest sweeper on this process's database, clock and rules."""
        return Digester(
            db=self.db,
            clock=self.clock,
            rules=self.rules,
            queued=self.deliverer.wake.set,
            model=self.assist,
        )

    async def settle(self) -> None:
        """Handle what was received, fire what is due and deliver what is queued, until nothing is
        left (console, tests)."""
        while True:
            await self.inbox.settled()
            if self.summaries is not None:
                await self.summaries.drain()
            fired = await self.scheduler.sweep()
            sent = await self.deliverer.drain()
            if not fired and not sent:
                return

    def run_background(self) -> None:
        """The background work of a handling process; one that only acknowledges has none."""
        if not self.settings.handles:
            return
        run = self.background.start
        run("scheduler", self.scheduler.run)
        run("delivery", self.deliverer.run)
        run("wake", lambda stop: self.shared.listen(stop, self.hooks.woken))
        run("inbox", self.inbox.run)
        self.digests = self.digester()
        run("digests", self.digests.run)
        if self.summaries is not None and self.model.on:
            run("summaries", self.summaries.run)

    async def close(self) -> None:
        self.stop.set()
        self.poke()
        await self.background.close()
        await self.inbox.close()
        await self.hooks.said()
        await self.shared.close()
        if self.assist is not None:
            await self.assist.close()
        await self.db.dispose()
