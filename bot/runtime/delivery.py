"""Delivery: takes queued notices from the outbox to each person's platform.

Notices are written in the transaction of the change they report, so a crash never loses one;
delivery leases a batch, sends, and marks it sent (at least once: a crash between send and mark
resends after the lease). A person no platform can reach is reported to the case owner, with
what to do (a channel raises `Unreachable` to say why), and the case's timeline notes it. Sends
to one conversation are paced by a rate limiter shared by all replicas (`RATES`, per channel).
A replica told to stop sends nothing more: what it leased and did not send goes back at once, for
the next replica (or its own restart) to send, instead of waiting out the lease.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import or_
from sqlmodel import col, select, update

from bot.clock import Clock, RealClock
from bot.messages import Message
from bot.notices import notify
from bot.runtime.arrivals import Arrivals
from bot.runtime.metrics import Metrics
from storage.db import Database
from storage.shared import LocalShared, Rate, Shared
from storage.states import OutboxStatus, Platform
from storage.tables import Case, Event, Outbox, Person

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
PARALLEL = 8  # people served side by side in one drain
UNREACHABLE = "unreachable"
# The platforms' documented pace per conversation: Slack about one message a second (short bursts
# allowed), Teams about seven a second. Channels not listed are not paced (the console).
RATES: dict[str, Rate] = {
    Platform.SLACK: Rate(limit=1, window=1.0),
    Platform.TEAMS: Rate(limit=7, window=1.0),
}
MAX_WAIT = 5.0


class Unreachable(Exception):
    """Raised by a channel that cannot reach this person yet; the message says what to do."""


class Channel(Protocol):
    """One platform's way of reaching a person."""

    name: str

    def reaches(self, person: Person) -> bool: ...

    async def send(self, person: Person, msg: Message, row: Outbox) -> None: ...


class Deliverer:
    def __init__(
        self,
        *,
        db: Database,
        channels: list[Channel] | None = None,
        shared: Shared | None = None,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
        arrivals: Arrivals | None = None,
    ) -> None:
        self.db = db
        self.arrivals = arrivals or Arrivals()
        self.clock: Clock = clock or RealClock()
        self.channels: list[Channel] = list(channels or [])
        self.shared: Shared = shared or LocalShared()
        self.metrics = metrics
        self.wake = asyncio.Event()
        self.stop = asyncio.Event()  # `run`'s: set, the notices not sent yet are handed back
        self.sent = 0

    def channels_for(self, person: Person, prefer: str | None = None) -> list[Channel]:
        """Every channel that may reach the person, the case's own platform first; the next is
        tried if one can't."""
        return sorted(
            (c for c in self.channels if c.reaches(person)), key=lambda c: c.name != prefer
        )

    async def _report_unreachable(
        self, row: Outbox, person: Person, msg: Message, hints: list[str]
    ) -> int:
        """Tell the case owner, with what to do, that a notice could not reach someone."""
        if row.case_id is None or row.kind == UNREACHABLE:
            log.warning("outbox %s: nobody can reach @%s", row.id, person.handle)
            return 0
        how = "; ".join(hints) or (
            f"{person.name} has no Slack or Teams account I can use: an admin can link one "
            f"with `/case admin link @{person.handle} slack|teams <id>`, or they can send "
            "ownit a message once"
        )
        at = await self.clock.now()  # the timeline speaks the system's time, simulated or not
        async with self.db.session() as s:
            case = await s.get(Case, row.case_id)
            owner = await s.get(Person, case.owner_id) if case else None
            if case is None or owner is None or owner.id == person.id:
                log.warning("outbox %s: nobody can reach @%s", row.id, person.handle)
                return 0
            text = (
                f"I could not reach {person.name} (@{person.handle}) about {case.key}. {how}. "
                f"Until then, please pass this on yourself: {msg.plain()}"
            )
            notify(
                s,
                to=owner,
                at=at,
                case=case,
                msg=Message(UNREACHABLE, (text,), case=case.key, request=msg.request),
            )
            s.add(
                Event(
                    case_id=row.case_id,
                    request_id=row.request_id,
                    at=at,
                    kind=UNREACHABLE,
                    text=f"could not reach {person.name}: {how}",
                    data={"person_id": person.id, "outbox_id": row.id},
                )
            )
        return 1

    async def drain(self, limit: int = 200) -> int:
        """Deliver what is pending now; returns how many were sent or reported as unreachable."""
        now = datetime.now(UTC)
        async with self.db.session() as s:
            q = (
                select(Outbox)
                .where(
                    col(Outbox.sent).is_(False),
                    or_(col(Outbox.claimed_until).is_(None), col(Outbox.claimed_until) < now),
                )
                .order_by(col(Outbox.id))
                .limit(limit)
            )
            if self.db.postgres:
                q = q.with_for_update(skip_locked=True)
            rows = list((await s.exec(q)).all())
            if not rows:
                return 0
            for row in rows:
                row.claimed_until = now + LEASE
                s.add(row)
            people = {
                p.id: p
                for p in (
                    await s.exec(
                        select(Person).where(col(Person.id).in_({r.person_id for r in rows}))
                    )
                ).all()
            }
            case_ids = {r.case_id for r in rows if r.case_id is not None}
            homes: dict[int | None, str | None] = dict(
                (
                    await s.exec(select(Case.id, Case.platform).where(col(Case.id).in_(case_ids)))
                ).all()
            )
        # Each person's notices go in order and at their conversation's pace; different people's
        # go side by side, so one paced conversation never holds up everyone else's.
        queues: dict[int, list[Outbox]] = {}
        for row in rows:
            queues.setdefault(row.person_id, []).append(row)
        gate = asyncio.Semaphore(PARALLEL)
        left: list[int | None] = []

        async def deliver_queue(queue: list[Outbox]) -> tuple[int, int]:
            done = told = 0
            async with gate:
                for row in queue:
                    outcome = await self._deliver(row, people[row.person_id], homes)
                    if outcome is None:
                        left.append(row.id)
                        continue
                    done += outcome[0]
                    told += outcome[1]
            return done, told

        try:
            results = await asyncio.gather(*(deliver_queue(q) for q in queues.values()))
        finally:
            if left:
                await self._hand_back(left)
        sent = sum(r[0] for r in results)
        reported = sum(r[1] for r in results)
        self.sent += sent
        return sent + reported

    async def _hand_back(self, ids: list[int | None]) -> None:
        """Leased and not sent (stopping): anyone may send them now, in their order."""
        async with self.db.session() as s:
            await s.exec(update(Outbox).where(col(Outbox.id).in_(ids)).values(claimed_until=None))

    async def _deliver(
        self, row: Outbox, person: Person, homes: dict[int | None, str | None]
    ) -> tuple[int, int] | None:
        """Send one notice through the first channel that can reach the person: (sent, reported
        unreachable), or None when stopping came first."""
        if self.stop.is_set():
            return None
        msg = Message.from_dict(row.payload)
        channel: Channel | None = None
        status = OutboxStatus.UNREACHABLE  # until a channel takes it, or fails otherwise
        error: str | None = "unreachable: no platform reaches this person"
        hints: list[str] = []
        for candidate in self.channels_for(person, homes.get(row.case_id)):
            channel = candidate
            try:
                if not await self._pace(candidate, person):
                    return None
                await candidate.send(person, msg, row)
                status, error = OutboxStatus.SENT, None
                break
            except Unreachable as exc:
                hints.append(str(exc))
                status, error = OutboxStatus.UNREACHABLE, f"unreachable: {exc}"
            except Exception as exc:
                log.warning("delivery of outbox %s to %s failed: %s", row.id, person.handle, exc)
                status, error = OutboxStatus.RETRYING, f"{type(exc).__name__}: {exc}"
                break
        reported = 0
        if status is OutboxStatus.UNREACHABLE:
            reported = await self._report_unreachable(row, person, msg, hints)
        await self._settle(row, status, error)
        if self.metrics:
            self.metrics.notices.labels(
                channel.name if channel else "none",
                "sent" if status is OutboxStatus.SENT else "failed",
            ).inc()
        return int(status is OutboxStatus.SENT), reported

    async def _pace(self, channel: Channel, person: Person) -> bool:
        """Wait for this conversation's turn (the limiter is shared; Redis down → no pacing);
        False if told to stop meanwhile."""
        rate = RATES.get(channel.name)
        if rate is None:
            return True
        wait = min(MAX_WAIT, await self.shared.reserve(f"{channel.name}:{person.id}", rate))
        if wait > 0:
            if self.metrics:
                self.metrics.rate_limited_seconds.inc(wait)
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=wait)
        return not self.stop.is_set()

    async def _settle(self, row: Outbox, status: OutboxStatus, error: str | None) -> None:
        """Record the try: done (sent, unreachable, or failed for the last time) or retried
        after a backoff."""
        async with self.db.session() as s:
            if status is OutboxStatus.SENT:  # the usual case: one statement
                await s.exec(
                    update(Outbox)
                    .where(col(Outbox.id) == row.id)
                    .values(attempts=col(Outbox.attempts) + 1, error=None, sent=True, status=status)
                )
                return
            fresh = await s.get(Outbox, row.id)
            if fresh is None:
                return
            fresh.attempts += 1
            fresh.error = error
            if status is OutboxStatus.RETRYING and fresh.attempts >= MAX_ATTEMPTS:
                status = OutboxStatus.FAILED
            fresh.status = status
            if status is not OutboxStatus.RETRYING:
                fresh.sent = True
            else:
                backoff = timedelta(seconds=min(300, 2**fresh.attempts))
                fresh.claimed_until = datetime.now(UTC) + backoff
            s.add(fresh)

    async def run(self, stop: asyncio.Event) -> None:
        self.stop = stop
        while not stop.is_set():
            try:
                await self.arrivals.make_way()
                while await self.drain() and not stop.is_set():
                    await self.arrivals.make_way()
            except Exception:
                log.exception("delivery failed; retrying")
            self.wake.clear()
            if stop.is_set():  # told while draining: the wake-up it came with was just cleared
                return
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=1.0)
            except TimeoutError:
                pass
