"""The figures of the promise simulation (bench/promises.py), from the database ownit wrote and
what the run saw, against the baseline of the same plan with nobody reminded."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime, timedelta

from sqlmodel import select

from bench.promise_world import HOUR, Held, Member, PlannedCase
from bot.business_time import Calendar
from bot.ladder import latest_before
from storage.db import Database
from storage.states import Step, TimerOutcome
from storage.tables import Case, Request, Timer

FLAGS = ("at_risk_owner", "promise_at_risk", "promise_broken", "overdue_owner", "more_time_owner")
"""Notices that tell an owner a promise is threatened (a request late or at risk, more time)."""
WARNINGS = ("at_risk_owner", "promise_at_risk", "promise_broken")
"""The at-risk warnings proper: the alarms counted as noise on a case that ends well."""
MINUTE = timedelta(minutes=1)


def rate(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.0%}" if whole else f"{part}/0"


def baseline_kept(case: PlannedCase, people: dict[str, Member]) -> bool:
    """Nobody reminded: each answer comes when planned, the owner replies after the last."""
    cal = people[case.owner].calendar
    return cal.add(max(r.answer_at for r in case.requests), case.reply) <= case.promise


def in_hours(cal: Calendar, at: datetime) -> bool:
    """Open at `at`, or `at` is the close of a business day (a window's end lands there)."""
    return cal.is_open(at) or cal.is_open(at - MINUTE)


async def report(
    db: Database,
    *,
    planned: list[PlannedCase],
    people: dict[str, Member],
    told: dict[int, list[tuple[str, datetime]]],
    requests: dict[str, Held],
    case_keys: dict[int, str],
    refused: Counter[str],
    commands: int,
    heading: str,
) -> None:
    async with db.reader() as s:
        cases = {c.key: c for c in (await s.exec(select(Case))).all()}
        timers = list((await s.exec(select(Timer))).all())
        deadlines = {r.key: r.deadline for r in (await s.exec(select(Request))).all()}
    print(f"Promise simulation — {heading}")
    print(f"  {len(planned)} cases, {len(requests)} requests, {commands} commands")
    late = sum(h.plan.late for h in requests.values())
    print(f"  late answers planned: {rate(late, len(requests))}")

    well = [i for i, c in enumerate(planned) if baseline_kept(c, people)]
    noisy = [i for i in well if any(kind in WARNINGS for kind, _ in told.get(i, []))]
    print(f"\nAt-risk warnings on cases that end well: {rate(len(noisy), len(well))}  (≤ 10 %)")

    threatened = [i for i in range(len(planned)) if i not in set(well)]
    needing, leads = [], []
    for i in threatened:
        case = planned[i]
        cal = people[case.owner].calendar
        answers = [h.answered_at for h in requests.values() if h.case == i and h.answered_at]
        latest_useful = latest_before(cal, case.promise, HOUR, case.opened_at)
        if answers and max(answers) <= latest_useful:
            continue  # the reminders alone brought every answer in time
        needing.append(i)
        flags = [at for kind, at in told.get(i, []) if kind in FLAGS]
        if flags and min(flags) < case.promise:
            leads.append(cal.between(min(flags), case.promise) / HOUR)
        else:
            leads.append(0.0)
    ahead = sum(lead >= 2 for lead in leads)
    print(
        f"Threatened promises (broken with no bot): {len(threatened)}; kept by the reminders "
        f"alone: {len(threatened) - len(needing)}; the rest flagged to the owner ≥ 2 business "
        f"hours ahead: {rate(ahead, len(needing))}  (≥ 95 %)"
    )
    if leads:
        print(f"  lead of the first flag: median {statistics.median(leads):.1f} business hours")
    short = [
        (case_keys[i], round(lead, 1)) for i, lead in zip(needing, leads, strict=True) if lead < 2
    ]
    if short:
        print(f"  flagged late or not at all: {short[:12]}")

    _steps(timers, requests, deadlines, planned, people, cases, case_keys)

    kept = {i: cases[k].promise_kept for i, k in case_keys.items()}
    moved = [i for i, k in case_keys.items() if cases[k].promise_renegotiations > 0]
    moved_kept = [i for i in moved if kept[i]]
    print(f"Renegotiated promises kept: {rate(len(moved_kept), len(moved))}  (≥ 90 %)")
    broke = [i for i, k in case_keys.items() if not kept[i] or cases[k].promise_breaks > 0]
    silent = [i for i in broke if not any(kind in FLAGS for kind, _ in told.get(i, []))]
    base = len(threatened)
    times = f"{base / len(broke):.1f}× fewer" if broke else "none broke"
    print(
        f"Broken promises: {len(broke)} with ownit, {base} with no bot: {times}  (≥ 5×); "
        f"broken without a flag to the owner: {len(silent)}"
    )
    unresolved = [k for k in case_keys.values() if cases[k].resolved_at is None]
    if unresolved:
        print(f"  cases never resolved: {unresolved[:10]}")
    if refused:
        print("Commands refused:")
        for why, n in refused.most_common(8):
            print(f"  {n:4d}  {why}")


def _steps(
    timers: list[Timer],
    requests: dict[str, Held],
    deadlines: dict[str, datetime],
    planned: list[PlannedCase],
    people: dict[str, Member],
    cases: dict[str, Case],
    case_keys: dict[int, str],
) -> None:
    """Each ladder step fired once, on time, in the calendar of whoever it reminded."""
    fired = [t for t in timers if t.outcome == TimerOutcome.FIRED]
    twice = sum(
        n - 1 for n in Counter((t.request_id, t.case_id, t.step, t.due_at) for t in fired).values()
    )
    late = sum(1 for t in fired if t.fired_at is None or t.fired_at > t.due_at)
    index = {k: i for i, k in case_keys.items()}
    ids = {c.id: c.key for c in cases.values()}
    off = 0
    for t in fired:
        if t.request_id is not None and t.step in (Step.NUDGE, Step.AT_RISK):
            key = f"R-{t.request_id}"
            if t.due_at >= deadlines[key]:
                continue  # a short window: the step is at the deadline itself
            holder = [h for since, h in requests[key].holders if since <= t.due_at][-1]
            off += not in_hours(people[holder].calendar, t.due_at)
        elif t.step == Step.PROMISE_AT_RISK:
            owner = planned[index[ids[t.case_id]]].owner
            off += not in_hours(people[owner].calendar, t.due_at)
    kinds = Counter(str(t.step) for t in fired)
    each = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    print(
        f"Ladder steps fired: {len(fired)} ({each});"
        f" fired twice: {twice}; late: {late}; outside the reminded person's hours: {off}"
    )
