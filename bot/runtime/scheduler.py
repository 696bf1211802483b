"""The escalation scheduler: fires due ladder steps, exactly once, in every replica.

It asks the database for the earliest pending step (an index on `(done, due_at)`, so the cost
follows the number of due steps, not of open requests), sleeps until then or until woken, and fires
what is due. Each step is claimed in the transaction that fires it: on PostgreSQL with
`FOR UPDATE SKIP LOCKED`, so replicas share the work; on SQLite with a conditional update under the
file's write lock. If one step fails, the others still fire, and it is retried a minute later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ladder
from bot.clock import Clock
from bot.directory import Rules
from bot.runtime.metrics import Metrics
from storage.db import Database
from storage.states import TimerOutcome
from storage.tables import Case, Person, Request, Timer

log = logging.getLogger(__name__)

BATCH = 100
RETRY = timedelta(minutes=1)


class Scheduler:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        rules: Callable[[], Awaitable[Rules]],
        on_fired: Callable[[list[str]], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.db = db
        self.clock = clock
        self.rules = rules
        self.on_fired = on_fired
        self.wake = asyncio.Event()
        self.fired = 0
        self.rounds = 0  # looks taken by `run` (each ends waiting for the next)

    @property
    def poll(self) -> float:
        """Seconds between looks at most, woken or not."""
        return 0.5 if self.clock.simulated else 5.0

    def wanted(self, due: datetime | None, now: datetime) -> bool:
        """Whether a change that made (or moved) timers due at `due` at the earliest (None: it
        made none) must wake the scheduler: only if one falls due before its next look anyway
        (on a simulated clock, always)."""
        if self.clock.simulated:
            return True
        return due is not None and (due - now).total_seconds() < self.poll

    async def next_due(self) -> datetime | None:
        async with self.db.reader() as s:
            res = await s.exec(select(func.min(Timer.due_at)).where(col(Timer.done).is_(False)))
            value = res.one()
        if value is None:
            return None
        # min() bypasses the column type on some drivers; normalise to aware UTC.
        from storage.types import UTCDateTime

        return UTCDateTime().process_result_value(value, self.db.engine.dialect)

    async def sweep(self) -> int:
        """Fire every step due now; returns how many fired."""
        started = time.perf_counter()
        now = await self.clock.now()
        rules = await self.rules()
        total = 0
        keys: list[str] = []
        while True:
            fired, seen = await self._batch(now, rules, keys)
            total += fired
            if seen < BATCH:
                break
        if total:
            self.fired += total
            if self.on_fired:
                self.on_fired(keys)
        if self.metrics:
            self.metrics.sweep_seconds.observe(time.perf_counter() - started)
        return total

    async def _batch(self, now: datetime, rules: Rules, keys: list[str]) -> tuple[int, int]:
        """Fire one batch; the keys of the requests whose steps fired go on `keys`.

        The whole batch is fired in one transaction, its rows written together at the end; should
        a step fail, that is undone and the batch fired again step by step, each in a savepoint,
        so that the others still fire and the failing one is retried later."""
        try:
            fired, seen, done = await self._fire(now, rules, careful=False)
        except Exception:
            log.warning("a ladder step of the batch failed; firing it step by step", exc_info=True)
            fired, seen, done = await self._fire(now, rules, careful=True)
        for timer, outcome in done:
            if outcome == TimerOutcome.FIRED and timer.request_id is not None:
                keys.append(f"R-{timer.request_id}")  # its post shows it late, say
            self._observe(timer, outcome, now)
        return fired, seen

    async def _fire(
        self, now: datetime, rules: Rules, *, careful: bool
    ) -> tuple[int, int, list[tuple[Timer, str]]]:
        """(fired, looked at, each step fired or skipped with its outcome)."""
        fired = 0
        done: list[tuple[Timer, str]] = []
        async with self.db.session() as s:
            q = (
                select(Timer)
                .where(col(Timer.done).is_(False), col(Timer.due_at) <= now)
                .order_by(col(Timer.due_at), col(Timer.id))
                .limit(BATCH)
            )
            if self.db.postgres:
                q = q.with_for_update(skip_locked=True)
            timers = list((await s.exec(q)).all())
            claimed = await self._claim(s, timers, now)
            loaded = await self._prefetch(s, claimed)
            for timer in claimed:
                if not careful:
                    outcome = await ladder.fire(s, timer=timer, now=now, rules=rules)
                    timer.outcome = outcome
                    s.add(timer)
                    fired += outcome == TimerOutcome.FIRED
                    done.append((timer, outcome))
                    continue
                try:
                    async with s.begin_nested():
                        outcome = await ladder.fire(s, timer=timer, now=now, rules=rules)
                        timer.outcome = outcome
                        s.add(timer)
                    fired += outcome == TimerOutcome.FIRED
                    done.append((timer, outcome))
                except Exception:
                    log.exception("ladder step %s failed; retrying in a minute", timer.key)
                    await s.exec(
                        update(Timer)
                        .where(col(Timer.id) == timer.id)
                        .values(done=False, fired_at=None, due_at=now + RETRY)
                    )
        del loaded
        return fired, len(timers), done

    async def _claim(self, s: AsyncSession, timers: list[Timer], now: datetime) -> list[Timer]:
        """Mark the batch done in this transaction; the rows that were still pending are ours."""
        if self.db.postgres:
            # Rows locked FOR UPDATE were re-checked as still pending: one statement claims all.
            if timers:
                await s.exec(
                    update(Timer)
                    .where(col(Timer.id).in_([t.id for t in timers]))
                    .values(done=True, fired_at=now)
                )
            return timers
        claimed = []
        for timer in timers:
            claim = await s.exec(
                update(Timer)
                .where(col(Timer.id) == timer.id, col(Timer.done).is_(False))
                .values(done=True, fired_at=now)
            )
            if claim.rowcount == 1:
                claimed.append(timer)
        return claimed

    async def _prefetch(self, s: AsyncSession, timers: list[Timer]) -> list[object]:
        """Load the batch's cases, requests and people in three queries instead of one a step.

        They stay in the session's identity map (while the returned list holds them), so the
        ladder's `session.get` calls find them without asking the database again.
        """
        if not timers:
            return []
        found: list[object] = list(
            (await s.exec(select(Case).where(col(Case.id).in_({t.case_id for t in timers})))).all()
        )
        request_ids = {t.request_id for t in timers if t.request_id is not None}
        reqs = (
            list((await s.exec(select(Request).where(col(Request.id).in_(request_ids)))).all())
            if request_ids
            else []
        )
        people = {c.owner_id for c in found if isinstance(c, Case)}
        people |= {r.assignee_id for r in reqs if r.assignee_id is not None}
        found += reqs
        found += list((await s.exec(select(Person).where(col(Person.id).in_(people)))).all())
        return found

    def _observe(self, timer: Timer, outcome: str, now: datetime) -> None:
        if self.metrics is None:
            return
        self.metrics.steps_fired.labels(timer.step, outcome).inc()
        if outcome == TimerOutcome.FIRED and not self.clock.simulated:
            # Measured at firing, on the wall clock; a simulated clock jumps, so lag means nothing.
            lag = (datetime.now(UTC) - timer.due_at).total_seconds()
            self.metrics.scheduler_lag.observe(max(0.0, lag))

    async def run(self, stop: asyncio.Event) -> None:
        """Sleep until the next step is due (or a wake-up), fire it, repeat until `stop`."""
        poll = self.poll
        while not stop.is_set():
            self.wake.clear()  # before looking: a wake-up while it looks asks for another look
            try:
                # Most wake-ups (a command made a timer) find nothing due: one query tells.
                due, now = await self.next_due(), await self.clock.now()
                if due is not None and due <= now:
                    await self.sweep()
                    due, now = await self.next_due(), await self.clock.now()
                wait = poll
                if due is not None and not self.clock.simulated:
                    wait = min(poll, max(0.0, (due - now).total_seconds()))
            except Exception:
                log.exception("scheduler sweep failed; retrying")
                wait = 1.0
            if stop.is_set():
                return
            self.rounds += 1
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=wait)
            except TimeoutError:
                pass
