"""People by their platform id, kept in process: every command looks up its author, and most
name a colleague, while people change only now and then.

A person read is kept (`FRESH` seconds at most) as its column values; a later lookup puts a copy
into the asking session as if loaded (no round trip), so the services use it like any row. Any
write of a person in this process forgets every person kept for that database (a hook on every
flush); another replica's changes are seen within `FRESH`.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import UOWTransaction, make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import TrackedSession
from storage.states import Platform
from storage.tables import Person

FRESH = 10.0  # seconds a person is kept (another replica's change is seen within that long)
KEPT = 20_000  # people kept at most (then all are dropped and read again as needed)

_COLUMNS = tuple(Person.__table__.columns.keys())  # type: ignore[attr-defined]
_people: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}


def _database(session: AsyncSession | OrmSession) -> str:
    bind = session.bind
    return str(getattr(bind, "url", id(bind)))


async def by_platform(session: AsyncSession, platform: str, uid: str) -> Person | None:
    """The person with this Slack (or Teams) id, from the process's cache when it has them."""
    key = (_database(session), platform, uid)
    kept = _people.get(key)
    if kept is not None and time.monotonic() - kept[0] <= FRESH:
        present = session.sync_session.identity_map.get(identity_key(Person, kept[1]["id"]))
        if isinstance(present, Person):  # loaded (perhaps changed) in this session already
            return present
        copy = Person(**kept[1])
        make_transient_to_detached(copy)
        return await session.merge(copy, load=False)
    column = Person.slack_id if platform == Platform.SLACK else Person.teams_id
    person = (await session.exec(select(Person).where(column == uid))).first()
    if person is not None and person.id is not None:
        if len(_people) >= KEPT:
            _people.clear()
        _people[key] = (time.monotonic(), {c: getattr(person, c) for c in _COLUMNS})
    return person


@event.listens_for(TrackedSession, "after_flush")
def _forget_people(session: OrmSession, _flush: UOWTransaction) -> None:
    if not _people:
        return
    if any(isinstance(o, Person) for o in (*session.new, *session.dirty, *session.deleted)):
        database = _database(session)
        for key in [k for k in _people if k[0] == database]:
            del _people[key]
