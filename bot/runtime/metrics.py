"""Prometheus metrics of one ownit process, served at `GET /metrics`.

Each app gets its own registry (never the global one), so tests and benchmarks can run several
apps in one process without their counters colliding.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
MODEL = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 30.0)
LAG = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.commands = Counter(
            "ownit_commands", "Commands handled, by command and outcome", ["command", "outcome"],
            registry=r,
        )  # fmt: skip
        self.command_seconds = Histogram(
            "ownit_command_seconds", "Time to handle a command", ["command"], buckets=FAST,
            registry=r,
        )  # fmt: skip
        self.deduplicated = Counter(
            "ownit_deliveries_deduplicated",
            "Inbound deliveries recognised as retries or duplicates, by where they were caught",
            ["via"],
            registry=r,
        )
        self.database_unavailable = Counter(
            "ownit_database_unavailable", "Commands refused because the database was unreachable",
            registry=r,
        )  # fmt: skip
        self.steps_fired = Counter(
            "ownit_steps_fired", "Ladder steps fired (or skipped), by step", ["step", "outcome"],
            registry=r,
        )  # fmt: skip
        self.scheduler_lag = Histogram(
            "ownit_scheduler_lag_seconds", "How late a step fired after its due time",
            buckets=LAG, registry=r,
        )  # fmt: skip
        self.sweep_seconds = Histogram(
            "ownit_scheduler_sweep_seconds", "Time of one scheduler sweep", buckets=FAST,
            registry=r,
        )  # fmt: skip
        self.notices = Counter(
            "ownit_notices", "Outgoing notices, by channel and outcome", ["channel", "outcome"],
            registry=r,
        )  # fmt: skip
        self.rate_limited_seconds = Counter(
            "ownit_rate_limited_seconds", "Time outgoing notices waited for the rate limiter",
            registry=r,
        )  # fmt: skip
        self.redis_up = Gauge(
            "ownit_redis_up", "1 when the shared Redis answers (or none is configured)",
            registry=r,
        )  # fmt: skip

        self.inbox_accepted = Counter(
            "ownit_inbox_accepted", "Deliveries written to the inbox before their acknowledgement",
            ["platform"], registry=r,
        )  # fmt: skip
        self.inbox_handled = Counter(
            "ownit_inbox_handled", "Inbox deliveries handled, by outcome", ["outcome"],
            registry=r,
        )  # fmt: skip
        self.inbox_taken_over = Counter(
            "ownit_inbox_taken_over", "Inbox deliveries taken over after their lease lapsed",
            registry=r,
        )  # fmt: skip
        self.inbox_wait = Histogram(
            "ownit_inbox_wait_seconds", "From acknowledgement to the start of handling",
            buckets=LAG, registry=r,
        )  # fmt: skip
        self.inbox_waiting = Gauge(
            "ownit_inbox_waiting", "Deliveries this process holds and has not handled yet",
            registry=r,
        )  # fmt: skip
        self.ai_tokens = Counter(
            "ownit_ai_tokens", "Model tokens used, by feature and kind (prompt, completion)",
            ["feature", "kind"], registry=r,
        )  # fmt: skip
        self.ai_seconds = Histogram(
            "ownit_ai_seconds", "Time of one model call, by feature", ["feature"],
            buckets=MODEL, registry=r,
        )  # fmt: skip
        self.ai_calls = Counter(
            "ownit_ai_calls",
            "Model calls by feature and outcome (ok, or why the template was used instead)",
            ["feature", "outcome"], registry=r,
        )  # fmt: skip

    def watch_redis(self, available: Callable[[], bool]) -> None:
        self.redis_up.set_function(lambda: 1.0 if available() else 0.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
