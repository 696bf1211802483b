"""The escalation policy: when each ladder step fires, and the buffer kept before a promise."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from storage.states import Step

STEPS: tuple[Step, ...] = tuple(Step)

DEFAULT_DEADLINES = {"P1": "2h", "P2": "4h", "P3": "next business day", "P4": "3d"}


@dataclass(frozen=True)
class Policy:
    """Thresholds are shares of a request's window, counted in business time.

    `buffer` is the business time an owner needs to turn an answer into a reply: a request's
    deadline must land at least that long before the case's promise.
    """

    nudge: float = 0.25
    at_risk: float = 0.75
    buffer: timedelta = timedelta(hours=1)
    default_deadlines: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_DEADLINES))

    def with_changes(self, raw: dict[str, Any]) -> Policy:
        """A copy with the overrides of an org file or an admin command, validated."""
        changes: dict[str, Any] = {}
        for name in ("nudge", "at_risk"):
            if name in raw:
                value = float(raw[name])
                if not 0 < value < 1:
                    raise ValueError(f"policy {name} must be a share between 0 and 1, got {value}")
                changes[name] = value
        if "buffer" in raw:
            changes["buffer"] = parse_duration(str(raw["buffer"]))
        if "default_deadlines" in raw:
            deadlines = dict(self.default_deadlines)
            for prio, when in dict(raw["default_deadlines"]).items():
                key = str(prio).upper()
                if key not in DEFAULT_DEADLINES:
                    raise ValueError(f"policy default_deadlines: unknown priority {prio!r}")
                deadlines[key] = str(when)
            changes["default_deadlines"] = deadlines
        policy = replace(self, **changes)
        if policy.nudge >= policy.at_risk:
            raise ValueError("policy nudge must come before at_risk")
        return policy

    def as_dict(self) -> dict[str, Any]:
        return {
            "nudge": self.nudge,
            "at_risk": self.at_risk,
            "buffer": format_duration(self.buffer),
            "default_deadlines": dict(self.default_deadlines),
        }


def parse_duration(text: str) -> timedelta:
    """`1h`, `30m`, `1h30m`, `90` (minutes) — for configuration values, not user deadlines."""
    t = text.strip().lower().replace(" ", "")
    if t.isdigit():
        return timedelta(minutes=int(t))
    m = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?:in)?)?", t)
    if not t or not m or not any(m.groups()):
        raise ValueError(f"can't read {text!r} as a duration (try 1h, 30m or 1h30m)")
    d, h, mi = (int(g) if g else 0 for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi)


def format_duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m" if mins else ""]
    return "".join(parts) or "0m"
