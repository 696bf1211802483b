"""Managers' digests: daily at their chosen time on business days, weekly on the first business day.

A digest says what of their people is at risk or overdue now, the escalations and promises since
the last digest, and the team's figures against its targets (and, weekly, against the previous
quarter, with a chart). `/case digest [team]` gives one on demand. With a model, three sentences
on the period sit above the figures (`bot.assist.digest_words`); the figures stay code's.

Exactly once per manager and period, with any number of replicas: the sweep inserts a `DigestRun`
row whose primary key names the manager and period (`daily:12:2026-11-24`, `weekly:12:2026-W48`)
in the same transaction as the outbox notice (the figures are read, and the model asked, before
it). A second replica racing for the same key blocks on the key and then fails to insert it, so
it sends nothing; a crash before commit leaves neither, and
the next sweep (after a restart too) sends it. A digest is sent on its own local day only: a
process that was down all day does not send yesterday's digest late.
"""

from bot.digests.compose import LISTED, WEEKS, Digest, at_risk_now, build
from bot.digests.on_demand import may_see_team, on_demand, words_later
from bot.digests.prefs import Prefs, configure, load_prefs
from bot.digests.schedule import Due, due_runs, last_sent, local_midnight, managers, weekly_day
from bot.digests.sweep import MAX_LOOKBACK, Digester

__all__ = [
    "LISTED",
    "MAX_LOOKBACK",
    "WEEKS",
    "Digest",
    "Digester",
    "Due",
    "Prefs",
    "at_risk_now",
    "build",
    "configure",
    "due_runs",
    "last_sent",
    "load_prefs",
    "local_midnight",
    "managers",
    "may_see_team",
    "on_demand",
    "weekly_day",
    "words_later",
]
