"""Summaries of long cases, made in the background and kept with the data.

A case whose timeline grew long (`LONG` lines: several rounds of asking, acknowledging, more
time, redirects and answers) gets a one-paragraph summary for `/case status` and its card. It
is made after a change is acknowledged and committed (the case hooks), never on the way to a
reply, and cached keyed by the timeline's last line: a status shows it only while it is current
and never waits for one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.assist.model import Model
from bot.assist.times import times_named
from bot.clock import Clock
from storage.db import Database
from storage.shared import Shared
from storage.tables import AiSummary, Case, Event, Request, table_of

log = logging.getLogger(__name__)

FEATURE = "case_summary"
LONG = 8
"""Timeline lines from which a case is summed up (one request asked, acknowledged and answered
is four or five)."""
CLAIM_FOR = 120.0  # seconds one replica holds the making of one summary


class CaseSummary(BaseModel):
    paragraph: str = Field(description="one paragraph, plain text, no dates or times")


async def _last_event(session: AsyncSession, case_id: int) -> tuple[int, int]:
    """(how many lines the timeline has, the id of its last)."""
    row = (
        await session.exec(select(func.count(), func.max(Event.id)).where(Event.case_id == case_id))
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


async def current(session: AsyncSession, case: Case) -> str | None:
    """The case's summary if it is of the timeline as it is now (None: none, or outdated)."""
    assert case.id is not None
    found = await session.get(AiSummary, case.id)
    if found is None:
        return None
    _, last = await _last_event(session, case.id)
    return found.text if found.last_event_id == last else None


def current_text() -> Any:
    """What `current` gives, as a column of a query of `Case`: a card reads its case's summary in
    the statement that reads the case."""
    last = select(func.max(Event.id)).where(col(Event.case_id) == col(AiSummary.case_id))
    return (
        select(AiSummary.text)
        .where(
            col(AiSummary.case_id) == col(Case.id),
            col(AiSummary.last_event_id) == last.scalar_subquery(),
        )
        .scalar_subquery()
    )


async def summarise(*, db: Database, model: Model, case_id: int, now: datetime) -> bool:
    """Make and keep the summary of a long case whose summary is missing or outdated; True when
    one was made."""
    async with db.reader() as s:
        case = await s.get(Case, case_id)
        if case is None:
            return False
        lines, last = await _last_event(s, case_id)
        kept = await s.get(AiSummary, case_id)
        if lines < LONG or (kept is not None and kept.last_event_id == last):
            return False
        events = (
            await s.exec(select(Event).where(Event.case_id == case_id).order_by(col(Event.id)))
        ).all()
        customer = case.customer
        facts = {
            "customer": customer,
            "summary": case.summary,
            "status": str(case.status),
            "timeline": [e.text for e in events][-60:],
        }
    answer = await model.structured(
        feature=FEATURE,
        prompt="case_summary",
        variables={"case": facts},
        schema=CaseSummary,
        now=now,
        private=[customer],
    )
    if answer is None:
        return False
    text = " ".join(answer.paragraph.split())
    if not text or len(text) > 1200 or times_named(text):
        model.rejected(FEATURE, "unusable", "a summary naming times, empty or too long")
        return False
    row = {"case_id": case_id, "last_event_id": last, "text": text, "made_at": now}
    dialect = postgresql if db.postgres else sqlite
    table = table_of(AiSummary)
    stmt = dialect.insert(table).values(**row)
    stmt = stmt.on_conflict_do_update(index_elements=["case_id"], set_=row)
    async with db.session() as s:
        await s.exec(stmt)  # type: ignore[call-overload]
    return True


class Summariser:
    """Hears which cases changed (`changed`, a case hook) and sums up the long ones after the
    change, in its own task (`run`) or when a console or test settles (`drain`)."""

    def __init__(
        self,
        *,
        db: Database,
        model: Model,
        clock: Clock,
        shared: Shared,
        redraw: Callable[[str], None],
    ) -> None:
        self.db = db
        self.model = model
        self.clock = clock
        self.shared = shared
        self.redraw = redraw
        self.waiting: set[str] = set()
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        self.made = 0

    def changed(self, key: str) -> None:
        if self.model.on:
            self.waiting.add(key)
            self.wake.set()

    async def _case_id(self, key: str) -> int | None:
        kind, _, number = key.partition("-")
        if not number.isdigit():
            return None
        if kind == "C":
            return int(number)
        async with self.db.reader() as s:
            req = await s.get(Request, int(number))
        return req.case_id if req is not None else None

    async def drain(self) -> int:
        """Sum up every case heard of so far; how many summaries were made."""
        made = 0
        async with self.lock:
            while self.waiting:
                keys, self.waiting = sorted(self.waiting), set()
                ids = {i for i in [await self._case_id(k) for k in keys] if i is not None}
                for case_id in sorted(ids):
                    made += await self._one(case_id)
        self.made += made
        return made

    async def _one(self, case_id: int) -> int:
        try:
            async with self.db.reader() as s:
                _, last = await _last_event(s, case_id)
            if await self.shared.claim(f"summary:{case_id}:{last}", CLAIM_FOR) is False:
                return 0  # another replica is making this one
            now = await self.clock.now()
            if await summarise(db=self.db, model=self.model, case_id=case_id, now=now):
                self.redraw(f"C-{case_id}")
                return 1
        except Exception:
            log.exception("summary of C-%s failed; the status shows none", case_id)
        return 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.drain()
            self.wake.clear()
            if self.waiting:
                continue
            stopping = asyncio.ensure_future(stop.wait())
            woken = asyncio.ensure_future(self.wake.wait())
            await asyncio.wait({stopping, woken}, return_when=asyncio.FIRST_COMPLETED)
            for f in (stopping, woken):
                f.cancel()
