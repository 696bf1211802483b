"""What a Slack card and a request's post show of a case and its requests, read as plain rows.

A card is redrawn after nearly every change, so its case and requests are read with one Core
statement into small frozen values rather than loaded as ORM objects through a session's
identity map; the rows a change hands over are taken into the same values (`of`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any, Self

from sqlalchemy import Column, bindparam, func, or_, select, union

from bot.assist import summaries
from storage.states import OPEN_REQUEST_STATES
from storage.tables import Case, Request, table_of

CARD_REQUESTS = 20  # requests a card lists at most (Slack takes 50 blocks a message)


@dataclass(frozen=True, slots=True)
class CardCase:
    """A case as its card shows it, and where the card and its thread are in Slack."""

    id: int
    customer: str
    summary: str
    owner_id: int
    priority: str
    status: str
    promise_at: datetime | None
    promise_text: str | None
    promise_kept: bool | None
    handoffs: int
    platform: str | None
    channel: str | None
    thread: str | None
    message: str | None

    @property
    def key(self) -> str:
        return f"C-{self.id}"

    @classmethod
    def of(cls, row: Any) -> Self:
        """The values of a case a change held (an ORM object)."""
        return cls(*(getattr(row, name) for name in _CASE_NAMES))


@dataclass(frozen=True, slots=True)
class CardRequest:
    """A request as its card line and its post show it, and where the post is in Slack."""

    id: int
    case_id: int
    asked_by_id: int
    assignee_id: int | None
    team_id: int | None
    question: str
    status: str
    deadline: datetime
    eta: datetime | None
    answer: str | None
    answered_by_id: int | None
    pending_deadline: datetime | None
    channel: str | None
    thread: str | None
    posting_since: datetime | None

    @property
    def key(self) -> str:
        return f"R-{self.id}"

    @classmethod
    def of(cls, row: Any) -> Self:
        """The values of a request a change held (an ORM object)."""
        return cls(*(getattr(row, name) for name in _REQUEST_NAMES))


_CASE_NAMES = tuple(f.name for f in fields(CardCase))
_REQUEST_NAMES = tuple(f.name for f in fields(CardRequest))
CASES = len(_CASE_NAMES)  # a row's first columns are its case's
REQUESTS = len(_REQUEST_NAMES)  # ... then its request's
_case = table_of(Case)
_request = table_of(Request)


def _case_columns() -> list[Column[Any]]:
    return [_case.c[name] for name in _CASE_NAMES]


def _request_columns() -> list[Any]:
    """Labelled: a request shares column names (`id`, `status`, `channel`…) with its case."""
    return [_request.c[name].label(f"request_{name}") for name in _REQUEST_NAMES]


@cache
def case_with_requests(every: bool, posts: bool = False) -> Any:
    """A case, its requests (every one, or those a card shows and, with `posts`, the requests
    bound as `posts`: the open ones due soonest and the latest closed, `CARD_REQUESTS` of each),
    its request counts and its summary if current; a row per request (one with no request for a
    case without any)."""
    here = _request.c.case_id == bindparam("case")
    # equalities rather than IN: a list is expanded into the statement's text at every execution
    is_open = or_(*(_request.c.status == state for state in OPEN_REQUEST_STATES))
    total = select(func.count()).select_from(_request).where(here).scalar_subquery()
    open_total = select(func.count()).select_from(_request).where(here, is_open)
    joined = _request.c.case_id == _case.c.id
    if not every:
        soonest = (
            select(_request.c.id)
            .where(here, is_open)
            .order_by(_request.c.deadline, _request.c.id)
            .limit(CARD_REQUESTS)
        )
        latest = (
            select(_request.c.id)
            .where(here, ~is_open)
            .order_by(_request.c.id.desc())
            .limit(CARD_REQUESTS)
        )
        chosen = [select(soonest.subquery()), select(latest.subquery())]
        if posts:
            asked = _request.c.id.in_(bindparam("posts", expanding=True))
            chosen.append(select(_request.c.id).where(asked))
        joined = joined & _request.c.id.in_(union(*chosen))
    return (
        select(
            *_case_columns(),
            *_request_columns(),
            total,
            open_total.scalar_subquery(),
            summaries.current_text(),
        )
        .select_from(_case.outerjoin(_request, joined))
        .where(_case.c.id == bindparam("case"))
        .order_by(_request.c.id)
    )


@cache
def request_with_case() -> Any:
    """A request with its case, to post it in the case's thread."""
    return (
        select(*_case_columns(), *_request_columns())
        .select_from(_request.join(_case, _case.c.id == _request.c.case_id))
        .where(_request.c.id == bindparam("id"))
    )


@cache
def recorded_post() -> Any:
    """A request's post recorded: where it is in Slack, and no longer being posted."""
    return (
        _request.update()
        .where(_request.c.id == bindparam("request"))
        .values(
            platform=bindparam("to_platform"),
            channel=bindparam("to_channel"),
            thread=bindparam("to_thread"),
            posting_since=None,
        )
    )


def case_of(row: Any) -> CardCase:
    return CardCase(*row[:CASES])


def request_of(row: Any) -> CardRequest | None:
    """The request of a row of `case_with_requests` or `request_with_case` (None: none)."""
    values = row[CASES : CASES + REQUESTS]
    return None if values[0] is None else CardRequest(*values)
