"""The event loop the long-running commands run on: uvloop where it is installed (Linux and
macOS), asyncio's own elsewhere. uvloop's loop, written in C on libuv, spends less of a busy
process's CPU on sockets and callbacks, which is most of what a chat bot's process does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # Windows: uvloop is not built there
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on the fastest loop at hand."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
