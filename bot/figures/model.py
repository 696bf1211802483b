"""The figures of one scope and period, and the constants that bound them.

SAMPLE is the number of newest (opened, answered) pairs measured per scope; TOP the categories
and repeat customers listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from storage.states import Step

SAMPLE = 2000
STEPS: tuple[str, ...] = tuple(step.value for step in Step)
TOP = 5


@dataclass
class Figures:
    scope: str
    start: datetime
    end: datetime
    due: int = 0
    answered: int = 0
    on_time: int = 0
    missed_open: int = 0
    ack_median: timedelta | None = None
    ack_p90: timedelta | None = None
    answer_median: timedelta | None = None
    answer_p90: timedelta | None = None
    escalations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))
    cases_resolved: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    promises_renegotiated: int = 0
    renegotiated_cases: int = 0
    renegotiated_kept: int = 0
    handoffs: int = 0
    redirects: int = 0
    cases_opened: int = 0
    categories: list[tuple[str, int]] = field(default_factory=list)
    repeat_customers: list[tuple[str, int]] = field(default_factory=list)
    repeat_customer_count: int = 0
    csat_count: int = 0
    csat_sum: int = 0
    csat_satisfied: int = 0
    target_on_time: float = 0.9
    target_first_response_minutes: int = 60

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.due if self.due else None

    @property
    def promises_decided(self) -> int:
        """Promises whose outcome is known: each case's last one once it was decided, and the
        earlier ones it replaced (renegotiated, or broken before they were moved)."""
        return self.promises_kept + self.promises_renegotiated + self.promises_broken

    def _share(self, n: int) -> float | None:
        return n / self.promises_decided if self.promises_decided else None

    @property
    def promise_rate(self) -> float | None:
        return self._share(self.promises_kept)

    @property
    def renegotiated_rate(self) -> float | None:
        return self._share(self.promises_renegotiated)

    @property
    def broken_rate(self) -> float | None:
        return self._share(self.promises_broken)

    @property
    def renegotiated_kept_rate(self) -> float | None:
        """Of the decided cases whose promise was renegotiated, the share that kept the last one."""
        return self.renegotiated_kept / self.renegotiated_cases if self.renegotiated_cases else None

    @property
    def transfers(self) -> int:
        return max(0, self.handoffs - self.redirects)

    @property
    def handoffs_per_case(self) -> float | None:
        return self.handoffs / self.cases_resolved if self.cases_resolved else None

    @property
    def csat_average(self) -> float | None:
        return self.csat_sum / self.csat_count if self.csat_count else None

    @property
    def csat_rate(self) -> float | None:
        return self.csat_satisfied / self.csat_count if self.csat_count else None

    @property
    def escalation_total(self) -> int:
        return sum(self.escalations.values())

    @property
    def active(self) -> bool:
        return bool(self.due or self.escalation_total or self.cases_resolved or self.cases_opened)

    def as_row(self) -> dict[str, Any]:
        """Flat values for an export (minutes for durations, shares for rates)."""

        def minutes(d: timedelta | None) -> float | None:
            return round(d.total_seconds() / 60, 1) if d is not None else None

        def share(x: float | None) -> float | None:
            return round(x, 4) if x is not None else None

        return {
            "scope": self.scope,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "requests_due": self.due,
            "answered": self.answered,
            "on_time": self.on_time,
            "on_time_rate": share(self.on_time_rate),
            "target_on_time": self.target_on_time,
            "ack_median_minutes": minutes(self.ack_median),
            "ack_p90_minutes": minutes(self.ack_p90),
            "target_first_response_minutes": self.target_first_response_minutes,
            "answer_median_minutes": minutes(self.answer_median),
            "answer_p90_minutes": minutes(self.answer_p90),
            **{f"escalations_{k}": v for k, v in self.escalations.items()},
            "cases_resolved": self.cases_resolved,
            "promises_kept": self.promises_kept,
            "promises_renegotiated": self.promises_renegotiated,
            "promises_broken": self.promises_broken,
            "promise_kept_rate": share(self.promise_rate),
            "promise_renegotiated_rate": share(self.renegotiated_rate),
            "promise_broken_rate": share(self.broken_rate),
            "renegotiated_cases": self.renegotiated_cases,
            "renegotiated_then_kept_rate": share(self.renegotiated_kept_rate),
            "handoffs": self.handoffs,
            "transfers": self.transfers,
            "redirects": self.redirects,
            "handoffs_per_case": share(self.handoffs_per_case),
            "cases_opened": self.cases_opened,
            "top_categories": "; ".join(f"{c} {n}" for c, n in self.categories),
            "repeat_customers": self.repeat_customer_count,
            "top_repeat_customers": "; ".join(f"{c} {n}" for c, n in self.repeat_customers),
            "csat_count": self.csat_count,
            "csat_average": share(self.csat_average),
            "csat_satisfied_rate": share(self.csat_rate),
        }
