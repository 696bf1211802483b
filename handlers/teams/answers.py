"""Invoke answers, handed from the inbox worker to the HTTP request waiting for them.

An `Action.Execute` press must be answered on its own HTTP response (the card replaced in place),
but what it changes is done by the inbox worker, like everything Teams sends. The request waits
here, keyed by the activity's delivery key, for the worker's reply. Whichever comes first wins:
the worker's answer (the request renders it), or the request giving up (the worker then posts
the reply in the conversation instead). Both happen on the event loop with no await between the
check and the hand-over, so exactly one of them tells the person.
"""

from __future__ import annotations

import asyncio

from bot.commands.service import Reply


class Answers:
    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[Reply]]] = {}

    def expect(self, key: str) -> asyncio.Future[Reply]:
        """A request starts waiting for the reply to `key` (before the activity is kept)."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        return future

    def forget(self, key: str, future: asyncio.Future[Reply]) -> None:
        """The request is done waiting (answered, or gone)."""
        futures = self._waiting.get(key, [])
        if future in futures:
            futures.remove(future)
        if not futures:
            self._waiting.pop(key, None)
        if not future.done():
            future.cancel()

    def answer(self, key: str | None, reply: Reply) -> bool:
        """Hand the reply to the requests still waiting for it; False if none is."""
        taken = False
        for future in self._waiting.pop(key, []) if key else []:
            if not future.done():
                future.set_result(reply)
                taken = True
        return taken
