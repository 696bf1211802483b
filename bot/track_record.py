"""The recent requests of each person and team that breach prediction reads, kept in process.

Every ask reads the asked person's (or team's) last requests (`bot.predict`): one query, and a
costly one, on the path of every ask. Their record changes when one of those requests is answered,
cancelled, redirected or reopened, or its case changes category; a new ask only adds an open
request at its head. So a record read once is kept (`FRESH` seconds at most) and:
- a new ask of the same target is put at its head (`asked`), as the query would find it next;
- any update of a request forgets the records of the people and team it names, before and after
  (an answer, a redirect: seen by a hook on every flush, whoever made it in this process);
- an update of a case forgets every record (its category is in them).
Another replica's changes are seen within `FRESH`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import UOWTransaction
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import TrackedSession
from storage.tables import Case, Request

FRESH = 60.0  # seconds a record is kept (other replicas' answers are seen within that long)
KEPT = 10_000  # records kept at most (then all are dropped and read again as needed)

MEASURED = ("assignee_id", "answered_by_id", "team_id", "status", "answered_at", "opened_at")
"""A request's fields that its targets' records are made of."""
Row = tuple[datetime, datetime | None, str | None]  # opened, answered, the case's category
Key = tuple[str, str, int]  # (database, "person" or "team", id)

ASKED = "asked"  # session.info key: the records to add to once the transaction commits
_records: dict[Key, tuple[float, list[Row]]] = {}


_names: WeakKeyDictionary[Any, str] = WeakKeyDictionary()  # engine → its URL, rendered once


def _database(session: AsyncSession | OrmSession) -> str:
    """The database's name in the keys: the engine's URL, rendered once per engine (rendering
    it twice an ask cost more than reading the record)."""
    bind = session.bind
    if bind is None:
        return ""
    name = _names.get(bind)
    if name is None:
        name = _names[bind] = str(getattr(bind, "url", id(bind)))
    return name


def read(session: AsyncSession, kind: str, who: int) -> list[Row] | None:
    """The record kept for this target, newest first (None: not kept, or too old)."""
    kept = _records.get((_database(session), kind, who))
    if kept is None or time.monotonic() - kept[0] > FRESH:
        return None
    return kept[1]


def keep(session: AsyncSession, kind: str, who: int, rows: Sequence[Any], limit: int) -> None:
    if len(_records) >= KEPT:
        _records.clear()
    found: list[Row] = [(r[0], r[1], r[2]) for r in rows[:limit]]
    _records[(_database(session), kind, who)] = (time.monotonic(), found)


def asked(
    session: AsyncSession, kind: str, who: int, opened: datetime, category: str | None, limit: int
) -> None:
    """A new request of this target, open: at the head of its record, if one is kept, once the
    transaction that makes it commits."""
    key = (_database(session), kind, who)
    session.info.setdefault(ASKED, []).append((key, (opened, None, category), limit))


@event.listens_for(TrackedSession, "after_commit")
def _add_asked(session: OrmSession) -> None:
    for key, row, limit in session.info.pop(ASKED, ()):
        kept = _records.get(key)
        if kept is not None:
            _records[key] = (kept[0], [row, *kept[1]][:limit])


@event.listens_for(TrackedSession, "after_rollback")
def _drop_asked(session: OrmSession) -> None:
    session.info.pop(ASKED, None)


@event.listens_for(TrackedSession, "after_flush")
def _forget_changed(session: OrmSession, _flush: UOWTransaction) -> None:
    if not _records:
        return
    database = _database(session)
    for obj in session.dirty:
        if isinstance(obj, Case) and inspect(obj).attrs["category"].history.has_changes():
            for key in [k for k in _records if k[0] == database]:
                del _records[key]
            return
        if isinstance(obj, Request):
            state = inspect(obj)
            if not any(state.attrs[a].history.has_changes() for a in MEASURED):
                continue
            for attr, kind in (("assignee_id", "person"), ("answered_by_id", "person")):
                _forget(database, kind, state.attrs[attr], getattr(obj, attr))
            _forget(database, "team", state.attrs["team_id"], obj.team_id)
    for obj in session.deleted:
        if isinstance(obj, Request):
            for kind, who in (
                ("person", obj.assignee_id),
                ("person", obj.answered_by_id),
                ("team", obj.team_id),
            ):
                if who is not None:
                    _records.pop((database, kind, who), None)


def _forget(database: str, kind: str, attr: Any, now: int | None) -> None:
    for who in (now, *attr.history.deleted):
        if who is not None:
            _records.pop((database, kind, who), None)
