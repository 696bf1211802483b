"""Figures per person, team and period, computed in the database.

"If it isn't measured, it doesn't matter": on-time rate of internal answers, time to acknowledge
and to answer (median and 90th percentile in business time), escalations by ladder step, customer
promises kept, handoffs per case, cases by category and repeat customers, and CSAT.

Counts, sums and groupings are SQL aggregates over indexed columns (answers by person and time,
cases by owner and time, ladder events by kind and time), so the cost follows the size of the
period, not of the history. Business durations cannot be summed in SQL (they depend on each
person's hours, time zone and holidays), so the newest `SAMPLE` (opened, answered) pairs of a scope
are fetched and measured with a per-calendar cumulative index: one bisection per instant instead
of a walk over the days in between.

Definitions (also in docs/managers.md):
- a request is *due* in a period when it was answered in it, or is still unanswered and its
  deadline passed in it; *on time* when it was answered by its deadline;
- time to acknowledge and to answer count from when the request was asked, in the business time of
  the person who acknowledged or answered it; a request answered without an acknowledgement was
  acknowledged by its answer;
- promises, handoffs and CSAT count cases resolved in the period; categories and repeat customers
  count cases opened in it; a person's cases are the ones they own.

The modules: `scope` (whose figures), `query` (SQL helpers), `business` (business durations),
`model` (the `Figures`), `period` (`compute`), `weekly` (per person, per week, quarters) and
`everyone` (all people at once, for exports).
"""

from bot.figures.business import BusinessIndex, business_durations, calendar_for, median, p90
from bot.figures.everyone import ROW_LIMIT, compute_by_person
from bot.figures.model import SAMPLE, STEPS, TOP, Figures
from bot.figures.period import compute
from bot.figures.query import among, execute, is_pg, reads
from bot.figures.scope import (
    Scope,
    asked_of,
    managed_teams,
    manager_scope,
    person_scope,
    reports_of,
    team_scope,
)
from bot.figures.weekly import (
    PersonLine,
    WeekPoint,
    per_person,
    previous_quarter,
    quarter_start,
    week_starts,
    weekly_series,
)
from storage.states import OPEN_REQUEST_STATES as OPEN_STATES

__all__ = [
    "OPEN_STATES",
    "ROW_LIMIT",
    "SAMPLE",
    "STEPS",
    "TOP",
    "BusinessIndex",
    "Figures",
    "PersonLine",
    "Scope",
    "WeekPoint",
    "among",
    "asked_of",
    "business_durations",
    "calendar_for",
    "compute",
    "compute_by_person",
    "execute",
    "is_pg",
    "managed_teams",
    "manager_scope",
    "median",
    "p90",
    "per_person",
    "person_scope",
    "previous_quarter",
    "quarter_start",
    "reads",
    "reports_of",
    "team_scope",
    "week_starts",
    "weekly_series",
]
