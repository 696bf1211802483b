"""The background sweep that sends the digests due, exactly once per manager and period."""

from __future__ import annotations

import asyncio
import logging
import random
import zlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func

from bot import figures
from bot.assist import Model
from bot.assist.digest_words import worded
from bot.clock import Clock
from bot.digests.compose import build
from bot.digests.prefs import Prefs, load_prefs
from bot.digests.schedule import Due, due_runs, last_sent, local_midnight, managers
from bot.directory import Rules, calendar_of
from bot.figures import execute
from bot.messages import sentence
from bot.notices import notify
from storage.db import Database
from storage.tables import DigestRun, Person

log = logging.getLogger(__name__)

MAX_LOOKBACK = timedelta(days=7)
_LOCK_SPACE = 74_211_002  # advisory locks of digests in progress (PostgreSQL)


class Digester:
    """Sends the digests that are due; `run(stop)` is the background loop of every replica.

    Handed the database, the clock, the rules and a callable that says notices were queued
    (delivery looks at once), not the application that composes them. With a `model`, a digest
    gets three sentences on its period: its figures are read first, the model is asked outside
    any transaction, and then the digest is claimed and queued.
    """

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        rules: Callable[[], Awaitable[Rules]],
        queued: Callable[[], None],
        model: Model | None = None,
    ) -> None:
        self.db = db
        self.model = model
        self.clock = clock
        self.rules = rules
        self.queued = queued
        self.sent = 0
        self.sweeps = 0  # sweeps finished (tests wait for them)
        self.settled_at: datetime | None = None  # a sweep at this time left nothing to do

    async def sweep(self) -> int:
        """Send every digest due now that no replica has sent; returns how many were queued."""
        now = await self.clock.now()
        if now == self.settled_at:  # a simulated clock that has not moved
            return 0
        rules = await self.rules()
        async with self.db.reader() as s:
            people = await managers(s)
            base, own = await load_prefs(s)
        due: list[tuple[Person, list[Due]]] = []
        for m in people:
            assert m.id is not None
            cal = figures.calendar_for(m, rules.calendar)
            runs = due_runs(cal, own.get(m.id, base), now, m.id)
            if runs:
                due.append((m, runs))
        if not due:
            self.settled_at = now
            return 0
        keys = [d.key for _, runs in due for d in runs]
        async with self.db.reader() as s:
            done = set(
                (await execute(s, select(col(DigestRun.key)).where(col(DigestRun.key).in_(keys))))
                .scalars()
                .all()
            )
        sent = 0
        unsettled = False
        random.shuffle(due)  # replicas sweeping together start on different managers
        for manager, runs in due:
            todo = [d for d in runs if d.key not in done]
            if not todo:
                continue
            try:
                result = await self._send(
                    manager, todo, prefs=own.get(manager.id or 0, base), rules=rules, now=now
                )
            except IntegrityError:
                log.info("digest for %s already sent by another replica", manager.handle)
            except Exception:
                log.exception("digest for %s failed; retrying at the next sweep", manager.handle)
                unsettled = True
            else:
                unsettled = unsettled or result is None
                sent += result or 0
        if not unsettled:
            self.settled_at = now
        self.sent += sent
        if sent:
            self.queued()
        return sent

    async def _send(
        self, manager: Person, runs: list[Due], *, prefs: Prefs, rules: Rules, now: datetime
    ) -> int | None:
        """1 if a digest was queued, 0 if not (nothing to say), None if another replica is on it."""
        assert manager.id is not None
        weekly = next((d for d in runs if d.kind == "weekly"), None)
        async with self.db.reader() as s:
            previous = await last_sent(s, manager.id)
            scope = await figures.manager_scope(s, manager)
            cal = calendar_of(manager, rules.calendar)
            if weekly is not None:
                today = now.astimezone(cal.zone).date()
                start = weekly.start
                end = local_midnight(today - timedelta(days=today.weekday()), cal)
            else:
                start = max(previous or now - timedelta(days=1), now - MAX_LOOKBACK)
                end = now
            digest = await build(
                s,
                rules=rules,
                reader=manager,
                scope=scope,
                title=sentence("digest_title_weekly" if weekly else "digest_title_daily"),
                start=start,
                end=end,
                now=now,
                weekly=weekly is not None,
                db=self.db,
            )
        quiet = digest.empty and not prefs.all_clear
        message = digest.message if quiet else await worded(self.model, digest.message, now=now)
        async with self.db.session() as s:
            if self.db.postgres:
                # Another replica building this manager's digest holds the lock: leave it to it
                # rather than wait on its key (if it fails, the next sweep finds the key free).
                key = zlib.crc32(runs[0].key.encode()) - 2**31
                got = await execute(s, select(func.pg_try_advisory_xact_lock(_LOCK_SPACE, key)))
                if not got.scalar():
                    log.info("digest for %s is being sent by another replica", manager.handle)
                    return None
            s.add_all(
                DigestRun(
                    key=d.key,
                    manager_id=manager.id,
                    period=d.kind,
                    period_start=start,
                    sent_at=now,
                    empty=digest.empty,
                )
                for d in runs
            )
            await s.flush()  # the claim: a replica racing for the same key stops here
            if quiet:
                return 0
            notify(s, to=manager, msg=message, at=now)
            return 1

    async def run(self, stop: asyncio.Event) -> None:
        poll = 1.0 if self.clock.simulated else 30.0
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("digest sweep failed; retrying")
            self.sweeps += 1
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll)
            except TimeoutError:
                pass
