"""Each conversation's pace: the platforms' documented rate per conversation, kept by a limiter
all replicas share (Redis; down, nothing is paced), so a burst of notices is not refused."""

from __future__ import annotations

import asyncio
from contextlib import suppress

from bot.runtime.metrics import Metrics
from storage.shared import Rate, Shared
from storage.states import Platform

# The platforms' documented pace per conversation: Slack about one message a second (short bursts
# allowed), Teams about seven a second. Channels not listed are not paced (the console).
RATES: dict[str, Rate] = {
    Platform.SLACK: Rate(limit=1, window=1.0),
    Platform.TEAMS: Rate(limit=7, window=1.0),
}
MAX_WAIT = 5.0


async def wait_turn(
    shared: Shared, metrics: Metrics | None, channel: str, person: int | None, stop: asyncio.Event
) -> bool:
    """Wait for this conversation's turn on `channel`; False if told to `stop` meanwhile."""
    rate = RATES.get(channel)
    if rate is None:
        return True
    wait = min(MAX_WAIT, await shared.reserve(f"{channel}:{person}", rate))
    if wait > 0:
        if metrics:
            metrics.rate_limited_seconds.inc(wait)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
    return not stop.is_set()
