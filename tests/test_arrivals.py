"""Background work gives way to arriving requests, and still moves under unbroken load."""

from __future__ import annotations

import asyncio
import time

from bot.runtime.arrivals import (
    BUSY,
    LOADED_SLOTS,
    PATIENCE,
    QUIET,
    SAMPLE,
    SAMPLED_FOR,
    STRAINED_QUIET,
    Arrivals,
)


async def went(arrivals: Arrivals) -> float:
    """Wait for background work's turn; when it came (`time.monotonic`)."""
    await arrivals.make_way()
    return time.monotonic()


async def test_nothing_arriving_lets_work_through_at_once() -> None:
    arrivals = Arrivals()
    began = time.monotonic()
    await asyncio.wait_for(arrivals.make_way(), timeout=1)
    assert time.monotonic() - began < QUIET


async def test_work_waits_for_the_request_then_goes_soon_after_it_ends() -> None:
    arrivals = Arrivals()
    arrivals._last_forced = asyncio.get_running_loop().time()  # the forced turn was just taken
    with arrivals.arriving():
        waiting = [asyncio.create_task(arrivals.make_way()) for _ in range(5)]
        await asyncio.sleep(PATIENCE / 4)
        assert not any(w.done() for w in waiting)
        ended = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*waiting), timeout=1)
    assert time.monotonic() - ended < PATIENCE / 2  # all of them, once the requests stopped


async def test_under_unbroken_load_one_waiter_goes_per_patience_oldest_first() -> None:
    arrivals = Arrivals()
    released: list[int] = []

    async def work(n: int) -> None:
        await arrivals.make_way()
        released.append(n)

    loop = asyncio.get_running_loop()
    began = loop.time()
    with arrivals.arriving():  # a request that never ends
        tasks = [asyncio.create_task(work(n)) for n in range(4)]
        third = tasks[2]
        await asyncio.wait_for(third, timeout=PATIENCE * 3)
        went = loop.time() - began
        assert released == [0, 1, 2]  # one at once, then one every PATIENCE, in order
        assert went >= 2 * PATIENCE * 0.95
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=1)
    assert sorted(released) == [0, 1, 2, 3]


async def test_a_cancelled_waiter_does_not_take_a_turn() -> None:
    arrivals = Arrivals()
    arrivals._last_forced = asyncio.get_running_loop().time()
    done: list[str] = []

    async def work(name: str) -> None:
        await arrivals.make_way()
        done.append(name)

    with arrivals.arriving():
        gone = asyncio.create_task(work("gone"))
        await asyncio.sleep(0)
        kept = asyncio.create_task(work("kept"))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.wait_for(asyncio.shield(kept), timeout=PATIENCE * 1.5)  # at its turn
        assert done == ["kept"]
    assert gone.cancelled()
    await kept


async def test_a_strained_loop_holds_work_back_for_a_real_pause() -> None:
    """Requests that find the loop late (CPUs short) are no pause after a few milliseconds."""
    arrivals = Arrivals()
    loop = asyncio.get_running_loop()
    arrivals._last_forced = loop.time()
    with arrivals.arriving():
        for held in [0.015, 0.025, 0.035] * 6:  # other work holds the loop, time and again
            time.sleep(held)  # noqa: ASYNC251 - the point: a loop held up
            await asyncio.sleep(0.002)
        assert arrivals.strained
        arrivals._last_forced = loop.time()
        waiting = [asyncio.create_task(went(arrivals)) for _ in range(4)]
        ended = time.monotonic()
    times = await asyncio.wait_for(asyncio.gather(*waiting), timeout=1)
    assert min(times) - ended >= STRAINED_QUIET * 0.8  # 200 ms without requests is no pause here
    assert STRAINED_QUIET <= time.monotonic() - ended < STRAINED_QUIET + PATIENCE


async def test_an_idle_loop_is_not_strained() -> None:
    arrivals = Arrivals()
    with arrivals.arriving():
        await asyncio.sleep(SAMPLE * 10)
        assert not arrivals.strained
        assert arrivals.running < BUSY


async def test_a_loop_its_own_work_fills_is_strained_though_its_timers_run_on_time() -> None:
    """Work in short pieces keeps every timer nearly on time, yet leaves requests no room."""
    arrivals = Arrivals()
    with arrivals.arriving():
        until = time.monotonic() + SAMPLE * 20
        while time.monotonic() < until:
            spun = time.thread_time() + 0.001
            while time.thread_time() < spun:  # a millisecond of CPU, then the loop's turn
                pass
            await asyncio.sleep(0)
        assert arrivals.running > BUSY
        assert arrivals.strained
        arrivals._last_forced = asyncio.get_running_loop().time()
        waiting = asyncio.create_task(went(arrivals))
        ended = time.monotonic()
    at = await asyncio.wait_for(waiting, timeout=1)
    assert at - ended >= QUIET * 4  # a few milliseconds without requests are no pause here


class Handling:
    """Deliveries that each take a slot for `hold` seconds; the most in hand at once is kept."""

    def __init__(self, arrivals: Arrivals, hold: float) -> None:
        self.arrivals, self.hold = arrivals, hold
        self.now = self.peak = self.done = 0

    async def one(self) -> None:
        async with self.arrivals.slot():
            self.now += 1
            self.peak = max(self.peak, self.now)
            await asyncio.sleep(self.hold)
            self.now -= 1
            self.done += 1


async def test_while_requests_keep_arriving_deliveries_are_handled_one_at_a_time() -> None:
    arrivals = Arrivals()
    handling = Handling(arrivals, hold=0.1)  # one after another, 20 would take 2 s
    with arrivals.arriving():
        pass
    tasks = [asyncio.create_task(handling.one()) for _ in range(20)]
    for _ in range(8):  # a request every 50 ms for 0.4 s
        await asyncio.sleep(0.05)
        with arrivals.arriving():
            pass
    assert handling.peak == LOADED_SLOTS
    assert 2 <= handling.done <= 5  # they moved, one after another
    stopped = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=SAMPLED_FOR + 1)
    assert handling.peak > LOADED_SLOTS  # the rest together, once the requests had stopped
    assert time.monotonic() - stopped < SAMPLED_FOR + 0.5


async def test_with_no_requests_every_worker_handles_at_once() -> None:
    arrivals = Arrivals()
    handling = Handling(arrivals, hold=0.05)
    began = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(handling.one() for _ in range(8))), timeout=1)
    assert handling.peak == 8
    assert time.monotonic() - began < 0.05 * 3
