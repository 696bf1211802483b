"""The states a row can be in, as enums stored as the same strings they always were.

Each is a `StrEnum`, so a value read from the database compares equal to the enum and the columns
hold plain text (no data migration when a state is added). The open states of a request are
named once here, for every module that asks "is anyone still working on it?".
"""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    CLOSED = "closed"


class RequestStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    CANCELLED = "cancelled"


OPEN_REQUEST_STATES: tuple[RequestStatus, ...] = (RequestStatus.OPEN, RequestStatus.ACKNOWLEDGED)
"""A request in one of these still waits on someone."""


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Platform(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    CONSOLE = "console"


class Step(StrEnum):
    """The rungs of the escalation ladder (a `timer` row each)."""

    NUDGE = "nudge"
    AT_RISK = "at_risk"
    OVERDUE = "overdue"
    PROMISE_AT_RISK = "promise_at_risk"


class TimerOutcome(StrEnum):
    """Why a timer is done: it fired, or what made it moot first."""

    FIRED = "fired"
    ANSWERED = "answered"
    CANCELLED = "cancelled"
    KEPT = "kept"
    RESOLVED = "resolved"
    SUPERSEDED = "superseded"
    SKIPPED = "skipped"  # fell due, but what it warns of was no longer true


class OutboxStatus(StrEnum):
    """Where an outgoing notice is: waiting, waiting again after a failed try, or done (sent,
    unreachable on every platform, or given up after its last try). `Outbox.error` says why in
    words; this says what it means."""

    PENDING = "pending"
    RETRYING = "retrying"
    SENT = "sent"
    UNREACHABLE = "unreachable"
    FAILED = "failed"
