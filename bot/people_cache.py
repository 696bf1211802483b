"""People by their platform id, their handle or their id, kept in process: every command looks up
its author, most name a colleague, and cards and notices name people by id, while people change
only now and then.

A person read is kept as its column values; a later lookup puts a copy into the asking session as
if loaded (no round trip), so the services use it like any row. What is kept belongs to one
database engine (`of`), so processes, and apps in one process, each keep their own.

Kept until people change: a commit in this process that changed a person, team or membership
forgets them all (hooks on the session) and is announced to the other replicas (`People.written`),
whose wake-up forgets them there (`People.forget`). While the process is not subscribed to the
wake-ups (no Redis, Redis down, a reconnect), what is kept serves `FRESH` seconds at most, so
another process's change is seen within that long; `KEPT` bounds it otherwise, in case a wake-up
was lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import UOWTransaction, make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import TrackedSession, as_read
from storage.states import Platform
from storage.tables import Membership, Person, Team, table_of

FRESH = 10.0  # seconds a person is kept while no wake-up would tell of another process's change
KEPT = 600.0  # ... while wake-ups do (a backstop: a wake-up lost is made good within that long)
MOST = 20_000  # people kept at most (then all are dropped and read again as needed)

_COLUMNS = tuple(table_of(Person).columns.keys())
_WROTE = "ownit_people_written"  # session.info: this transaction wrote people


def _never() -> bool:
    return False


def _nothing() -> None:
    return None


@dataclass
class People:
    """The people kept for one database engine."""

    subscribed: Callable[[], bool] = _never  # wake-ups from every process are heard now
    written: Callable[[], None] = _nothing  # this process committed a change of people
    _rows: dict[int, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    _ids: dict[tuple[str, str], int] = field(default_factory=dict)  # (platform, uid) → id
    _handles: dict[str, int] = field(default_factory=dict)  # handle → id
    _generation: int = 0
    _shown: dict[int, tuple[dict[str, Any], Person]] = field(default_factory=dict)  # `_shared`

    def forget(self) -> None:
        """People changed: everyone is read again (and reads in flight are not kept)."""
        self._rows.clear()
        self._ids.clear()
        self._handles.clear()
        self._shown.clear()
        self._generation += 1

    def _kept(self, person_id: int | None) -> dict[str, Any] | None:
        if person_id is None or (hit := self._rows.get(person_id)) is None:
            return None
        if time.monotonic() - hit[0] > (KEPT if self.subscribed() else FRESH):
            return None
        return hit[1]

    def _keep(self, people: Iterable[Person], generation: int) -> None:
        if generation != self._generation:  # people changed while these were read
            return
        now = time.monotonic()
        for person in people:
            if person.id is None:
                continue
            if len(self._rows) >= MOST:
                self.forget()
                return
            self._rows[person.id] = (now, {c: getattr(person, c) for c in _COLUMNS})
            self._handles[person.handle] = person.id
            if person.slack_id:
                self._ids[(Platform.SLACK, person.slack_id)] = person.id
            if person.teams_id:
                self._ids[(Platform.TEAMS, person.teams_id)] = person.id


_engines: WeakKeyDictionary[Engine, People] = WeakKeyDictionary()


def of(engine: Engine) -> People:
    """The people kept for this (synchronous) engine."""
    people = _engines.get(engine)
    if people is None:
        people = _engines[engine] = People()
    return people


def _of_session(session: AsyncSession) -> People:
    bind = session.sync_session.bind
    assert isinstance(bind, Engine), "sessions of storage.db.Database are bound to its engine"
    return of(bind)


async def _into(session: AsyncSession, values: dict[str, Any]) -> Person:
    """The kept person as a row of `session` (the session's own, if it loaded them already)."""
    present = session.sync_session.identity_map.get(identity_key(Person, values["id"]))
    if isinstance(present, Person):  # loaded (perhaps changed) in this session already
        return present
    # lists copied: a change in place must not reach what is kept
    return as_read(
        session, Person, {c: list(v) if isinstance(v, list) else v for c, v in values.items()}
    )


def _shared(people: People, values: dict[str, Any]) -> Person:
    """The one detached copy of a kept person, in no session and never changed: what is shown
    of them (putting a copy into the session for every name on every card cost more than
    drawing it)."""
    person_id = values["id"]
    shown = people._shown.get(person_id)
    if shown is None or shown[0] is not values:  # none yet, or made from what was kept before
        copy = Person(**values)
        make_transient_to_detached(copy)
        shown = people._shown[person_id] = (values, copy)
    return shown[1]


async def by_platform(session: AsyncSession, platform: str, uid: str) -> Person | None:
    """The person with this Slack (or Teams) id, from the process's cache when it has them."""
    people = _of_session(session)
    kept = people._kept(people._ids.get((platform, uid)))
    if kept is not None and kept.get(_platform_column(platform)) == uid:
        return await _into(session, kept)
    generation = people._generation
    column = Person.slack_id if platform == Platform.SLACK else Person.teams_id
    person = (await session.exec(select(Person).where(column == uid))).first()
    if person is not None:
        people._keep((person,), generation)
    return person


async def by_handle(session: AsyncSession, handle: str) -> Person | None:
    """The person with this (normalised) handle, from the process's cache when it has them."""
    people = _of_session(session)
    kept = people._kept(people._handles.get(handle))
    if kept is not None and kept.get("handle") == handle:
        return await _into(session, kept)
    generation = people._generation
    person = (await session.exec(select(Person).where(Person.handle == handle))).first()
    if person is not None:
        people._keep((person,), generation)
    return person


def _split(
    people: People, ids: Iterable[int | None]
) -> tuple[dict[int, dict[str, Any]], list[int]]:
    """The ids asked for: those kept (with what is kept of them) and those to read."""
    kept: dict[int, dict[str, Any]] = {}
    missing: list[int] = []
    for person_id in dict.fromkeys(i for i in ids if i is not None):
        values = people._kept(person_id)
        if values is None:
            missing.append(person_id)
        else:
            kept[person_id] = values
    return kept, missing


async def by_ids(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, Person]:
    """The people with these ids (those that exist), from the cache and, for the others, one
    query."""
    people = _of_session(session)
    kept, missing = _split(people, ids)
    found = {person_id: await _into(session, values) for person_id, values in kept.items()}
    if missing:
        generation = people._generation
        read = (await session.exec(select(Person).where(col(Person.id).in_(missing)))).all()
        people._keep(read, generation)
        found.update((p.id, p) for p in read if p.id is not None)
    return found


async def to_show(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, Person]:
    """The people with these ids, only to be shown (a card naming them): the kept ones as one
    shared copy each, in no session, never to be changed; the others read as by `by_ids`."""
    people = _of_session(session)
    kept, missing = _split(people, ids)
    found: dict[int, Person] = {}
    for person_id, values in kept.items():
        found[person_id] = _shared(people, values)
    if missing:
        found.update(await by_ids(session, missing))
    return found


async def by_id(session: AsyncSession, person_id: int | None) -> Person | None:
    """The person with this id, from the cache when it has them."""
    if person_id is None:
        return None
    return (await by_ids(session, (person_id,))).get(person_id)


def _platform_column(platform: str) -> str:
    return "slack_id" if platform == Platform.SLACK else "teams_id"


def _people_in(session: OrmSession) -> bool:
    """Whether this flush changed people, teams or memberships. A person added changes no one
    kept (their ids are new), and people are added on first sight, so that alone forgets nothing."""
    if any(isinstance(obj, Team | Membership) for obj in session.new):
        return True
    if any(isinstance(obj, Person | Team | Membership) for obj in session.deleted):
        return True
    return any(
        isinstance(obj, Person | Team | Membership)
        and session.is_modified(obj, include_collections=False)
        for obj in session.dirty
    )


@event.listens_for(TrackedSession, "after_flush")
def _flushed(session: OrmSession, _flush: UOWTransaction) -> None:
    if _people_in(session):
        session.info[_WROTE] = True
        if isinstance(session.bind, Engine):  # a lookup by an id just changed finds no one
            of(session.bind).forget()


@event.listens_for(TrackedSession, "after_commit")
def _committed(session: OrmSession) -> None:
    if session.info.pop(_WROTE, False) and isinstance(session.bind, Engine):
        people = of(session.bind)
        people.forget()  # what was read between the flush and now was the old row
        people.written()


@event.listens_for(TrackedSession, "after_rollback")
def _rolled_back(session: OrmSession) -> None:
    session.info.pop(_WROTE, None)
