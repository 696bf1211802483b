"""The tables ownit keeps: the directory, cases, requests, their timeline, timers and outbox.

Timers (ladder steps) and outgoing notices live here with the data they belong to, written in the
same transaction as the change that caused them: a crash can lose neither, and a restart finds
them where they were.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import JSON, Column, Index, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.states import (
    CaseStatus,
    OutboxStatus,
    Platform,
    Priority,
    RequestStatus,
    Step,
    TimerOutcome,
)
from storage.types import State, UTCDateTime


@cache
def defaults_of(model: type[SQLModel]) -> tuple[dict[str, Any], dict[str, Callable[[], Any]]]:
    """A table model's column defaults: the constant ones, and those made anew for each row (the
    autoincrementing key is left to the database), for rows written without model objects."""
    constant: dict[str, Any] = {}
    made: dict[str, Callable[[], Any]] = {}
    for column in table_of(model).columns:
        if column.primary_key and column.autoincrement is not False:
            continue
        field = model.model_fields.get(column.key)
        if field is None:
            continue
        if field.default_factory is not None:
            made[column.name] = field.default_factory  # type: ignore[assignment]
        elif field.default is not PydanticUndefined:
            constant[column.name] = field.default
    return constant, made


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, for statements that want rows rather than model objects
    (sqlmodel sets `__table__` on every `table=True` model; its type does not say so)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def _dt(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)  # type: ignore[call-overload]


def _state(enum: type[Any], length: int, **kw: Any) -> Any:
    """A column of `enum` states, stored as their text (see `storage.types.State`)."""
    return Field(sa_type=State(enum, length), **kw)  # type: ignore[call-overload]


class Person(SQLModel, table=True):
    """Someone in the organisation: owner, colleague, manager or admin."""

    __tablename__ = "person"
    id: int | None = Field(default=None, primary_key=True)
    handle: str = Field(index=True, unique=True, max_length=80)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, index=True, max_length=320)
    slack_id: str | None = Field(default=None, index=True, unique=True, max_length=40)
    teams_id: str | None = Field(default=None, index=True, unique=True, max_length=200)
    manager_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    backup_id: int | None = Field(default=None, foreign_key="person.id")
    is_admin: bool = False
    tz: str | None = Field(default=None, max_length=64)
    hours: str | None = Field(default=None, max_length=20)
    workdays: str | None = Field(default=None, max_length=40)
    country: str | None = Field(default=None, max_length=10)
    subdiv: str | None = Field(default=None, max_length=10)
    away_until: datetime | None = _dt(default=None)
    topics: list[str] | None = Field(default=None, sa_column=Column(JSON))  # what they know about


class Team(SQLModel, table=True):
    """A group that can be asked as one; its first responder claims the request."""

    __tablename__ = "team"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=80)
    name: str = Field(max_length=200)
    manager_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    slack_group_id: str | None = Field(default=None, max_length=40)
    tz: str | None = Field(default=None, max_length=64)
    hours: str | None = Field(default=None, max_length=20)
    workdays: str | None = Field(default=None, max_length=40)
    country: str | None = Field(default=None, max_length=10)
    subdiv: str | None = Field(default=None, max_length=10)
    target_on_time: float = 0.9
    target_first_response_minutes: int = 60
    topics: list[str] | None = Field(default=None, sa_column=Column(JSON))  # what it knows about


class Membership(SQLModel, table=True):
    __tablename__ = "membership"
    team_id: int = Field(foreign_key="team.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True, index=True)


class Case(SQLModel, table=True):
    """One customer issue with exactly one owner and, usually, a promise to the customer."""

    __tablename__ = "case"
    __table_args__ = (
        Index("ix_case_owner_status", "owner_id", "status"),
        Index("ix_case_owner_opened", "owner_id", "opened_at"),
        Index("ix_case_owner_resolved", "owner_id", "resolved_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    customer: str = Field(max_length=200, index=True)
    summary: str = Field(sa_column=Column(Text, nullable=False))
    owner_id: int = Field(foreign_key="person.id")
    priority: Priority = _state(Priority, 2, default=Priority.P3)
    category: str | None = Field(default=None, max_length=80, index=True)
    status: CaseStatus = _state(CaseStatus, 12, default=CaseStatus.OPEN, index=True)
    promise_at: datetime | None = _dt(default=None)
    promise_text: str | None = Field(default=None, sa_column=Column(Text))
    promise_version: int = 0
    promise_kept: bool | None = None  # the outcome of the last promise: kept, broken, or open
    # earlier promises moved before they passed (renegotiated) and after (broken): see
    # bot/cases/promises.py
    promise_renegotiations: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    promise_breaks: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    opened_at: datetime = _dt(index=True)
    resolved_at: datetime | None = _dt(default=None)
    handoffs: int = 0
    csat: int | None = None
    csat_comment: str | None = Field(default=None, sa_column=Column(Text))
    platform: Platform | None = _state(Platform, 16, default=None)
    channel: str | None = Field(default=None, max_length=200)
    thread: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, max_length=200)
    posting_since: datetime | None = _dt(default=None)  # a process is posting its card

    @property
    def key(self) -> str:
        return f"C-{self.id}"


class Request(SQLModel, table=True):
    """A behind-the-scenes ask from a case to one colleague or a team, held to a deadline."""

    __tablename__ = "request"
    __table_args__ = (
        Index("ix_request_assignee_status", "assignee_id", "status"),
        Index("ix_request_team_status", "team_id", "status"),
        Index("ix_request_answered_by_at", "answered_by_id", "answered_at"),
        Index("ix_request_assignee_opened", "assignee_id", "opened_at"),
        Index("ix_request_team_opened", "team_id", "opened_at"),
        Index("ix_request_answered_by_opened", "answered_by_id", "opened_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    asked_by_id: int = Field(foreign_key="person.id")
    assignee_id: int | None = Field(default=None, foreign_key="person.id")
    team_id: int | None = Field(default=None, foreign_key="team.id")
    question: str = Field(sa_column=Column(Text, nullable=False))
    status: RequestStatus = _state(RequestStatus, 12, default=RequestStatus.OPEN, index=True)
    opened_at: datetime = _dt()
    deadline: datetime = _dt()
    acked_at: datetime | None = _dt(default=None)
    eta: datetime | None = _dt(default=None)
    answered_at: datetime | None = _dt(default=None)
    answered_by_id: int | None = Field(default=None, foreign_key="person.id")
    answer: str | None = Field(default=None, sa_column=Column(Text))
    redirects: int = 0
    pending_deadline: datetime | None = _dt(default=None)
    pending_reason: str | None = Field(default=None, sa_column=Column(Text))
    platform: Platform | None = _state(Platform, 16, default=None)
    channel: str | None = Field(default=None, max_length=200)
    thread: str | None = Field(default=None, max_length=200)
    dm_channel: str | None = Field(default=None, max_length=200)
    dm_message: str | None = Field(default=None, max_length=200)
    posting_since: datetime | None = _dt(default=None)  # a process is posting it in the thread

    @property
    def key(self) -> str:
        return f"R-{self.id}"


class Event(SQLModel, table=True):
    """One line of a case's timeline: the audit trail, and the raw material of every figure."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_kind_at", "kind", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    request_id: int | None = Field(default=None, foreign_key="request.id", index=True)
    at: datetime = _dt()
    kind: str = Field(max_length=40)
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Timer(SQLModel, table=True):
    """A ladder step waiting for its time. Fired at most once: `key` is unique per step.

    The scheduler claims due rows (row locks that skip locked rows on PostgreSQL); a claim that is
    not completed expires so another process can fire it after a crash.
    """

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_pending_due", "done", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=120)
    step: Step = _state(Step, 40)
    case_id: int = Field(foreign_key="case.id", index=True)
    request_id: int | None = Field(default=None, foreign_key="request.id", index=True)
    due_at: datetime = _dt()
    done: bool = False
    outcome: TimerOutcome | None = _state(TimerOutcome, 20, default=None)
    claimed_until: datetime | None = _dt(default=None)
    fired_at: datetime | None = _dt(default=None)


class Outbox(SQLModel, table=True):
    """A message waiting to reach a person on their platform, written with the change it reports."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "sent", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    kind: str = Field(max_length=40)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    case_id: int | None = Field(default=None, foreign_key="case.id")
    request_id: int | None = Field(default=None, foreign_key="request.id")
    created_at: datetime = _dt()
    sent: bool = False
    attempts: int = 0
    claimed_until: datetime | None = _dt(default=None)
    status: OutboxStatus = _state(
        OutboxStatus,
        12,
        default=OutboxStatus.PENDING,
        sa_column_kwargs={"server_default": OutboxStatus.PENDING.value},
    )
    error: str | None = Field(default=None, sa_column=Column(Text))  # why, in words


class Delivery(SQLModel, table=True):
    """An inbound delivery already handled (a platform retry or duplicate must change nothing)."""

    __tablename__ = "delivery"
    key: str = Field(primary_key=True, max_length=200)
    at: datetime = _dt(index=True)
    reply: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class InboxItem(SQLModel, table=True):
    """A delivery acknowledged to its platform but not handled yet, so a crash cannot lose it.

    It is leased to the replica that wrote it (renewed while that replica lives) and deleted once
    handled; a lapsed lease means its replica died, and another takes it over.
    """

    __tablename__ = "inbox"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=200)
    platform: str = Field(max_length=20)
    kind: str = Field(max_length=20)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    received_at: datetime = _dt()
    taken_by: str = Field(index=True, max_length=40)
    taken_until: datetime = _dt(index=True)
    attempts: int = 1


class ClockState(SQLModel, table=True):
    """The simulated clock, kept with the data so every process sharing the database agrees."""

    __tablename__ = "clock"
    id: int = Field(default=1, primary_key=True)
    now: datetime = _dt()


class ConversationRef(SQLModel, table=True):
    """How to reach a person proactively on a platform that needs a stored reference (Teams)."""

    __tablename__ = "conversation_ref"
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    platform: Platform = _state(Platform, 16)
    conversation_id: str = Field(max_length=400)
    service_url: str | None = Field(default=None, max_length=400)
    tenant_id: str | None = Field(default=None, max_length=100)
    reference: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _dt()
    __table_args__ = (UniqueConstraint("person_id", "platform", name="uq_conversation_person"),)


class DigestRun(SQLModel, table=True):
    """A digest sent (or skipped) for one manager and period: the key makes it exactly once."""

    __tablename__ = "digest_run"
    key: str = Field(primary_key=True, max_length=160)
    manager_id: int = Field(foreign_key="person.id", index=True)
    period: str = Field(max_length=16)
    period_start: datetime = _dt()
    sent_at: datetime = _dt()
    empty: bool = False


class Proposal(SQLModel, table=True):
    """A command ownit proposed to one person (from their plain words, or a colleague to ask),
    kept as the typed command it is: run only by that person, and only once (`used_at`)."""

    __tablename__ = "proposal"
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    command: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))  # the command's words, as shown
    created_at: datetime = _dt()
    used_at: datetime | None = _dt(default=None)


class Setting(SQLModel, table=True):
    """Small named values changed at run time by admins (policy overrides)."""

    __tablename__ = "setting"
    name: str = Field(primary_key=True, max_length=80)
    value: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class AiUsage(SQLModel, table=True):
    """Model tokens an organisation used on one day (UTC): the daily budget, shared by replicas."""

    __tablename__ = "ai_usage"
    org: str = Field(primary_key=True, max_length=80)
    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD
    tokens: int = 0
    calls: int = 0


class AiSummary(SQLModel, table=True):
    """A case's timeline summed up by the model, valid while `last_event_id` is its last line."""

    __tablename__ = "ai_summary"
    case_id: int = Field(foreign_key="case.id", primary_key=True)
    last_event_id: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    made_at: datetime = _dt()


__all__ = [
    "AiSummary",
    "AiUsage",
    "Case",
    "ClockState",
    "ConversationRef",
    "Delivery",
    "DigestRun",
    "Event",
    "Membership",
    "Outbox",
    "Person",
    "Proposal",
    "Request",
    "Setting",
    "Team",
    "Timer",
    "UniqueConstraint",
]
