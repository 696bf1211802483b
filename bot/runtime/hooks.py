"""Telling whoever cares that something changed: the platforms' card hooks, the background loops,
and (through Redis) the other replicas.

Hooks must not block: they note what changed and do their work in their own tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from storage.shared import TIMERS, Shared, Topics

log = logging.getLogger(__name__)

PEOPLE = "people"  # a person, team, membership or calendar changed (announced with the commit)
POLICY = "policy"  # an admin changed the policy

WAKE_AFTER = 0.05  # announcements from other processes arriving together wake the loops once
CARDS_AFTER = 0.3  # and the cards a little later: the process that made a change posts its own


@dataclass
class ChangeHooks:
    """`case_changed` for the cards of cases and requests, `poke` for the loops here and on the
    other replicas, and `woken` for what another replica announced."""

    shared: Shared
    wakes: list[asyncio.Event] = field(default_factory=list)  # loops that look again on a change
    timer_wakes: list[asyncio.Event] = field(default_factory=list)  # ... when timers may be due
    case_hooks: list[Callable[[str], None]] = field(default_factory=list)
    # ... and handed what the change held, to draw from rather than read again (`case_changed`)
    row_hooks: list[Callable[[Collection[object], Collection[int]], None]] = field(
        default_factory=list
    )
    wake_hooks: list[Callable[[], None]] = field(default_factory=list)
    # what only another process's change asks for, as soon as it is heard (delivery's lease:
    # the notices written here are handed to it)
    woken_hooks: list[Callable[[], None]] = field(default_factory=list)
    forgets: dict[str, list[Callable[[], None]]] = field(default_factory=dict)  # per topic
    _pending: set[asyncio.Task[Any]] = field(default_factory=set)
    _waking: asyncio.TimerHandle | None = None

    def case_changed(
        self, *keys: str | None, rows: Collection[object] = (), made: Collection[int] = ()
    ) -> None:
        """These cases and requests (`C-…`, `R-…`) changed: a Slack card and the posts of the
        requests named update in place. `rows`: the rows the change wrote or locked, as
        committed; `made`: the ids of the requests it inserted."""
        if rows or made:
            for row_hook in self.row_hooks:
                try:
                    row_hook(rows, made)
                except Exception:
                    log.exception("row hook failed")
        for key in dict.fromkeys(k for k in keys if k):
            for hook in self.case_hooks:
                try:
                    hook(key)
                except Exception:
                    log.exception("case hook failed for %s", key)

    def poke(self, *topics: str, timers: bool = True) -> None:
        """Something changed: the loops look now rather than later, and other replicas hear of
        it too, so a timer made here is honoured promptly by whichever scheduler gets to it, and
        what they keep of `topics` (`PEOPLE`, `POLICY`) is read again.
        `timers=False`: the change made no timer that falls due before the scheduler's next look
        anyway, so it is not woken here."""
        self._wake_loops(timers=timers)
        self.announce(TIMERS, *topics)

    def announce(self, *topics: str) -> None:
        """Tell the other replicas (without waking the loops here) that `topics` changed."""
        if self.shared.kind != "local":
            try:
                task = asyncio.get_running_loop().create_task(self.shared.announce(*topics))
            except RuntimeError:
                return
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def said(self) -> None:
        """Until what was announced here has gone out (or Redis was found down): a process
        closing says its last changes before it lets Redis go, or the other replicas keep
        what they hold of them until their backstop runs out."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def woken(self, topics: Topics | None = None) -> None:
        """Another process changed something (a web process handling a modal among them): what
        is kept of `topics` is forgotten at once (`None`: of everything, as announcements may
        have been missed), the timers and notices are looked at in a moment, and the cards a
        little after.

        Under load every command is announced; one look covers all that arrived meanwhile.
        """
        for topic, forgets in self.forgets.items():
            if topics is None or topic in topics:
                for forget in forgets:
                    forget()
        if self._waking is None:
            self._waking = asyncio.get_running_loop().call_later(WAKE_AFTER, self._wake)

    def _wake_loops(self, *, timers: bool = True) -> None:
        for event in (*self.wakes, *self.timer_wakes) if timers else self.wakes:
            event.set()

    def _wake(self) -> None:
        self._waking = None
        for hook in self.woken_hooks:
            hook()
        self._wake_loops()
        if self.wake_hooks:
            asyncio.get_running_loop().call_later(CARDS_AFTER, self._wake_cards)

    def _wake_cards(self) -> None:
        for hook in self.wake_hooks:
            hook()
