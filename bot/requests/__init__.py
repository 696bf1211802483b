"""Requests: ask a colleague or a team, acknowledge, answer, ask for more time, redirect.

A request runs on the asked colleague's own calendar. Whoever is away is routed around: to their
backup, or else to their manager, and the owner is told.
"""

from __future__ import annotations

from bot.requests.absence import route_around_absence, set_away
from bot.requests.answering import acknowledge, answer
from bot.requests.asking import ask
from bot.requests.lookup import get_request
from bot.requests.more_time import decide, more_time
from bot.requests.redirecting import redirect
from bot.requests.rescheduling import set_deadline

__all__ = [
    "acknowledge",
    "answer",
    "ask",
    "decide",
    "get_request",
    "more_time",
    "redirect",
    "route_around_absence",
    "set_away",
    "set_deadline",
]
