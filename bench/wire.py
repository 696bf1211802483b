"""Round trips to PostgreSQL counted on the wire, by a proxy that reads what clients send.

A round trip is a burst of client messages that follows an answer of the server (or opens the
connection): the client waits for the server between two of them. Whatever a server process does
with the database is counted the same way (SQLAlchemy's statements, BEGIN and COMMIT, the pool's
pings, asyncpg's own prepares, the inbox's direct statements, LISTEN), and a lean reference is
counted by the same measure. Each round trip is labelled by the first statement it carries
(`BEGIN`, `COMMIT`, `SELECT`, `INSERT`, the pool's `;` ping…), read from the protocol's Query,
Parse and Bind messages.

Run as a process of its own (`python bench/wire.py LISTEN_PORT UPSTREAM_PORT STATS_PORT`): a
connection to STATS_PORT is answered with the counts so far as JSON (and `reset` resets them).
The proxy costs CPU and latency per round trip, so benchmarks count in a phase of their own at a
low rate and measure speed without it.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
from collections import Counter

SSL_REQUEST = 80877103
GSS_REQUEST = 80877104


def kind_of(query: str) -> str:
    words = query.strip().split(None, 1)
    if not words or words[0] == ";":
        return "ping"
    first = words[0].upper().rstrip(";")
    return first if first.isalpha() else "other"


class Counts:
    def __init__(self, log: str | None = None) -> None:
        self.trips: Counter[str] = Counter()
        self.log = open(log, "a") if log else None  # kept open for the process's life

    def note(self, conn: int, text: str) -> None:
        if self.log is not None:
            self.log.write(f"{conn} {' '.join(text.split())[:300]}\n")
            self.log.flush()

    def as_json(self) -> bytes:
        total = sum(self.trips.values())
        return json.dumps({"total": total, "kinds": dict(self.trips)}).encode()


class Client(asyncio.Protocol):
    """Bytes from a client, parsed into messages and relayed upstream."""

    def __init__(self, counts: Counts, upstream: tuple[str, int]) -> None:
        self.counts = counts
        self.upstream = upstream
        self.transport: asyncio.Transport | None = None
        self.server: Server | None = None
        self.pending: list[bytes] = []
        self.buf = bytearray()
        self.startup = True
        self.answered = True  # the server spoke since the client's last burst (or none yet)
        self.statements: dict[str, str] = {}
        self.trip: str | None = None
        self.opened = "startup"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        loop = asyncio.get_running_loop()
        self.connecting = loop.create_task(self._connect(loop))

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            _t, server = await loop.create_connection(lambda: Server(self), *self.upstream)
        except OSError:
            assert self.transport is not None
            self.transport.close()
            return
        self.server = server
        for data in self.pending:
            server.write(data)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.answered:
            self.answered = False
            self.trip = None
            self.opened = "startup" if self.startup else "other"
        self.buf += data
        self._parse()
        if self.server is None:
            self.pending.append(data)
        else:
            self.server.write(data)

    def _label(self, kind: str, text: str) -> None:
        if self.trip is None:
            self.trip = kind
            self.counts.trips[kind] += 1
            self.counts.note(id(self) % 10000, text)

    def answer(self) -> None:
        """The server spoke: the client's burst, if any, was one round trip."""
        if not self.answered and self.trip is None:
            self.counts.trips[self.opened] += 1
        self.answered = True

    def _parse(self) -> None:
        buf = self.buf
        while True:
            if self.startup:
                if len(buf) < 8:
                    return
                length, code = struct.unpack("!ii", buf[:8])
                if len(buf) < length:
                    return
                del buf[:length]
                if code not in (SSL_REQUEST, GSS_REQUEST):
                    self.startup = False
                continue
            if len(buf) < 5:
                return
            tag = buf[0:1]
            (length,) = struct.unpack("!i", buf[1:5])
            if len(buf) < 1 + length:
                return
            body = bytes(buf[5 : 1 + length])
            del buf[: 1 + length]
            if tag == b"Q":
                text = body.split(b"\0", 1)[0].decode(errors="replace")
                self._label(kind_of(text), text)
            elif tag == b"P":
                name, query = body.split(b"\0", 2)[:2]
                text = query.decode(errors="replace")
                self.statements[name.decode()] = text
                self._label(kind_of(text), text)
            elif tag == b"B":
                _portal, name = body.split(b"\0", 2)[:2]
                text = self.statements.get(name.decode(), "")
                self._label(kind_of(text), text)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.server is not None:
            self.server.close()


class Server(asyncio.Protocol):
    def __init__(self, client: Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.client.answer()
        assert self.client.transport is not None
        self.client.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client.transport is not None:
            self.client.transport.close()


async def serve(listen: int, upstream: int, stats: int, log: str | None = None) -> None:
    counts = Counts(log)
    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: Client(counts, ("127.0.0.1", upstream)), "127.0.0.1", listen)

    async def report(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(counts.as_json())
        if line.strip() == b"reset":
            counts.trips.clear()
        await writer.drain()
        writer.close()

    await asyncio.start_server(report, "127.0.0.1", stats)
    await asyncio.Event().wait()


async def read_counts(stats: int, reset: bool = False) -> dict[str, object]:
    reader, writer = await asyncio.open_connection("127.0.0.1", stats)
    writer.write(b"reset\n" if reset else b"read\n")
    await writer.drain()
    data = await reader.read()
    writer.close()
    return dict(json.loads(data))


if __name__ == "__main__":
    log = sys.argv[4] if len(sys.argv) > 4 else None  # each round trip's first statement
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), log))
