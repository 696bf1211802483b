"""Who to ask: the people and teams that could answer a question, and a line on why each.

Two sources, both plain: who answered similar questions before (one query over past answered
requests: the question's words in common, each weighted by its length, recent first) and the
`topics` the org file gives people and teams. Only people of the organisation are named, never
the asker; the reasons say counts and days computed here, and nothing of the other cases.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from zoneinfo import ZoneInfo

from sqlalchemy import case as when_then
from sqlalchemy import desc, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.business_time import format_day
from bot.messages import sentence
from storage.states import RequestStatus
from storage.tables import Person, Request, Team

MAX_WORDS = 12  # the question's words searched for: enough to match, bounded work
HORIZON = 20_000  # the latest requests searched: what people answered lately, at a bounded cost
_WORD = re.compile(r"[^\W\d_]{3,}")
_STOP = frozenset(
    """the and for you your are was were has have had not but can could would should will with
    this that these those there their they them from into about what when where which who whom
    why how does did done any all our out ask asking need needs please thanks thank just still
    get got been being its it's than then also some more most very much many one two""".split()
)


def stem(word: str) -> str:
    """A word as compared: lower case, a plural `s` dropped ("invoices" is "invoice")."""
    word = word.lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def question_words(text: str) -> list[str]:
    """The words of a question that say what it is about, longest first, at most MAX_WORDS."""
    found = dict.fromkeys(stem(w) for w in _WORD.findall(text) if w.lower() not in _STOP)
    return sorted(found, key=len, reverse=True)[:MAX_WORDS]


def _weight(word: str) -> int:
    return min(len(word), 10)  # a longer word says more about what the question is about


@dataclass(frozen=True)
class Candidate:
    """Someone who could answer: a person or a team, and what speaks for them."""

    person: Person | None
    team: Team | None
    answered: int = 0  # similar questions they answered
    last: datetime | None = None  # the latest of those answers
    topics: tuple[str, ...] = ()  # their topics the question touches
    score: int = 0

    @property
    def handle(self) -> str:
        return self.person.handle if self.person is not None else self.team.key if self.team else ""

    @property
    def name(self) -> str:
        return self.person.name if self.person is not None else self.team.name if self.team else ""

    def reason(self, tz: str, now: datetime) -> str:
        """One line on why, computed here: counts, the day of the last answer, topics."""
        parts = []
        if self.answered and self.last is not None:
            zone = ZoneInfo(tz)
            day = format_day(self.last.astimezone(zone).date(), this_year=now.astimezone(zone).year)
            key = "who_reason_answered_one" if self.answered == 1 else "who_reason_answered"
            parts.append(sentence(key, count=self.answered, day=day))
        if self.topics:
            parts.append(sentence("who_reason_topics", topics=", ".join(self.topics)))
        return "; ".join(parts)


async def answered_before(
    session: AsyncSession, words: list[str], *, exclude: int | None, limit: int = 10
) -> list[tuple[int, int, int, datetime]]:
    """(person id, score, similar answers, last answer) of who answered questions sharing
    `words`, best first: one query, portable (lower-case LIKE) on SQLite and PostgreSQL, over
    the latest HORIZON requests (so its cost does not grow with the history)."""
    if not words:
        return []
    recent = (  # the latest HORIZON requests: a backward scan of the primary key
        select(
            col(Request.answered_by_id).label("by"),
            col(Request.answered_at).label("at"),
            col(Request.question).label("question"),
            col(Request.status).label("status"),
        )
        .order_by(desc(col(Request.id)))
        .limit(HORIZON)
        .subquery()
    )
    question = func.lower(recent.c.question)
    score = reduce(
        operator.add, [when_then((question.like(f"%{w}%"), _weight(w)), else_=0) for w in words]
    )
    total = func.sum(score)
    q = (
        select(recent.c.by, total, func.count(), func.max(recent.c.at))
        .where(recent.c.status == RequestStatus.ANSWERED)
        .where(recent.c.by.is_not(None))
        .where(score > 0)
        .group_by(recent.c.by)
        .order_by(desc(total), desc(func.max(recent.c.at)))
        .limit(limit)
    )
    if exclude is not None:
        q = q.where(recent.c.by != exclude)
    rows = (await session.exec(q)).all()
    return [(int(pid or 0), int(s), int(n), last) for pid, s, n, last in rows if last is not None]


def _touched(topics: list[str] | None, words: set[str]) -> tuple[str, ...]:
    """The topics whose every word is among the question's words."""
    found = []
    for topic in topics or []:
        parts = [stem(w) for w in _WORD.findall(topic)]
        if parts and all(p in words for p in parts):
            found.append(topic)
    return tuple(found)


TOPIC_WEIGHT = 8  # a topic the question touches counts like a long word in common


async def candidates(
    session: AsyncSession, *, question: str, asker: Person, limit: int = 6
) -> list[Candidate]:
    """Up to `limit` people or teams who could answer `question`, best first (the model, when
    there is one, picks among them; without, the first three are suggested)."""
    words = question_words(question)
    history = await answered_before(session, words, exclude=asker.id)
    found: dict[tuple[str, int], Candidate] = {}
    ids = [pid for pid, *_ in history]
    people_by_id = {
        p.id: p for p in (await session.exec(select(Person).where(col(Person.id).in_(ids)))).all()
    }
    for pid, score, count, last in history:
        if (person := people_by_id.get(pid)) is not None:
            found[("person", pid)] = Candidate(person, None, count, last, (), score)
    wordset = set(words)
    people = await session.exec(select(Person).where(col(Person.topics).is_not(None)))
    for person in people.all():
        touched = _touched(person.topics, wordset)
        if not touched or person.id is None or person.id == asker.id:
            continue
        had = found.get(("person", person.id)) or Candidate(person, None)
        found[("person", person.id)] = Candidate(
            person, None, had.answered, had.last, touched, had.score + TOPIC_WEIGHT * len(touched)
        )
    teams = await session.exec(select(Team).where(col(Team.topics).is_not(None)))
    for team in teams.all():
        touched = _touched(team.topics, wordset)
        if touched and team.id is not None:
            found[("team", team.id)] = Candidate(
                None, team, topics=touched, score=TOPIC_WEIGHT * len(touched)
            )
    ranked = sorted(
        found.values(),
        key=lambda c: (c.score, c.last.timestamp() if c.last else 0.0),
        reverse=True,
    )
    return ranked[:limit]
