"""A lean HTTP/1.1 load generator on asyncio's protocol layer, for benchmarks on a shared machine.

The generator shares the CPUs with the servers it measures, so it must cost them as little as it
can: requests are whole byte strings made before the phase (signed in advance), connections are
kept alive and opened before the clock starts, and an answer is read by its status line and
Content-Length, with no client library, task or future per request. aiohttp's client spent about
three times as much CPU per request.

- `closed(...)`: N connections, each sending its next request as soon as the last is answered
  (the throughput; latency from each send).
- `steady(...)`: requests started on a fixed schedule whatever the answers do, each on an idle
  connection or queued for the next one free, latency counted from its scheduled time (so a slow
  server's queueing counts: no coordinated omission). The connections are a fixed number, opened
  before the clock starts, as wrk2 keeps them: opening more whenever all were busy turned a
  server's short stall into thousands of connections and a collapse (the bare bolt app offered a
  third more than it could answer answered 1,224/s with 60 → 2,900 connections, 2,096/s with a
  fixed 50), which measured the generator's way of piling on, not the server.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

GRACE = 10.0  # seconds after a phase that answers may still arrive before they count as failed


def request_bytes(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n{head}\r\n"
    ).encode() + body


@dataclass
class Tally:
    """What a phase saw: answers (2xx), failures, and latencies of the answers in seconds."""

    sent: int = 0
    ok: int = 0
    seconds: float = 0.0  # from the first request to the last answer
    start: float = 0.0  # `perf_counter()` when the first request was due (steady: i-th at i/rate)
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def answered(self, status: int, seconds: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            self.ok += 1
            self.latencies.append(seconds)


class Connection(asyncio.Protocol):
    """One kept-alive connection with at most one request in flight."""

    def __init__(self, done: Callable[[Connection, int], None]) -> None:
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.busy = False
        self.since = 0.0  # when the request in flight was due (or sent)
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, data: bytes, since: float) -> None:
        assert self.transport is not None and not self.busy
        self.busy, self.since = True, since
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.busy:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = _content_length(bytes(self.buf[:end]))
            if len(self.buf) < end + 4 + length:
                return
            status = int(self.buf[9:12])
            del self.buf[: end + 4 + length]
            self.busy = False
            self.done(self, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.busy:
            self.busy = False
            self.done(self, 0)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
        if name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("chunked answers are not read by this generator")
    return 0


class Load:
    """Requests spread round-robin over `(host, port)` targets on kept-alive connections."""

    def __init__(self, targets: list[tuple[str, int]]) -> None:
        self.targets = targets
        self._n = 0

    async def connections(
        self, count: int, done: Callable[[Connection, int], None]
    ) -> list[Connection]:
        loop = asyncio.get_running_loop()
        conns = []
        for i in range(count):
            host, port = self.targets[(self._n + i) % len(self.targets)]
            _t, conn = await loop.create_connection(lambda: Connection(done), host, port)
            conns.append(conn)
        self._n += count
        return conns

    async def closed(self, requests: Iterator[bytes], clients: int, seconds: float) -> Tally:
        """`clients` connections sending back to back for `seconds`."""
        loop = asyncio.get_running_loop()
        tally = Tally()
        finished = loop.create_future()
        end = 0.0
        in_flight = 0

        def done(conn: Connection, status: int) -> None:
            nonlocal in_flight
            now = time.perf_counter()
            in_flight -= 1
            tally.answered(status, now - conn.since)
            if now < end and not conn.lost:
                fire(conn, now)
            if not in_flight and not finished.done():
                finished.set_result(None)

        def fire(conn: Connection, now: float) -> None:
            nonlocal in_flight
            data = next(requests, None)
            if data is None:
                return
            in_flight += 1
            tally.sent += 1
            conn.send(data, now)

        conns = await self.connections(clients, done)
        start = time.perf_counter()
        end = start + seconds
        for conn in conns:
            fire(conn, time.perf_counter())
        if not in_flight:
            finished.set_result(None)
        try:
            await asyncio.wait_for(finished, seconds + GRACE)
        except TimeoutError:
            pass
        _close(conns)
        tally.seconds = time.perf_counter() - start
        return tally

    async def steady(self, requests: list[bytes], rate: float, pool: int) -> Tally:
        """`requests` started `rate` per second on a schedule, over `pool` connections (a request
        due while all are busy waits for the next one free, its wait counted)."""
        loop = asyncio.get_running_loop()
        tally = Tally()
        finished = loop.create_future()
        waiting: deque[tuple[int, float]] = deque()  # due but no connection free yet
        idle: deque[Connection] = deque()
        answered = 0
        total = len(requests)

        def done(conn: Connection, status: int) -> None:
            nonlocal answered
            answered += 1
            tally.answered(status, time.perf_counter() - conn.since)
            if answered == total and not finished.done():
                finished.set_result(None)
            if conn.lost:
                return
            if waiting:
                i, due = waiting.popleft()
                conn.send(requests[i], due)
            else:
                idle.append(conn)

        conns = await self.connections(pool, done)
        idle.extend(conns)
        start = tally.start = time.perf_counter() + 0.01
        i = 0
        while i < total:
            now = time.perf_counter()
            while i < total and start + i / rate <= now:
                due = start + i / rate
                tally.sent += 1
                if idle:
                    idle.popleft().send(requests[i], due)
                else:
                    waiting.append((i, due))
                i += 1
            if i < total:
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        try:
            await asyncio.wait_for(finished, GRACE)
        except TimeoutError:
            pass
        _close(conns)
        tally.seconds = time.perf_counter() - start
        return tally


def _close(conns: list[Connection]) -> None:
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
