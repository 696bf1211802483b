"""Read-only answers: a case with its requests and timeline, what is mine, a case's figures.

A case is shown as far as its viewer's `Sight` goes: all of it to the owner's side, the header
and their own requests to the people asked on it (docs/SECURITY.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cases import get_case
from bot.directory import Rules, calendar_of
from bot.involvement import Sight
from bot.messages import Message, Segment, Strong, join
from bot.notices import when_for
from bot.policy import format_duration
from storage.states import OPEN_REQUEST_STATES, CaseStatus
from storage.tables import Case, Event, Membership, Person, Request, Team


@dataclass(frozen=True)
class CaseFigures:
    requests: int
    answered: int
    on_time: int
    time_to_answer: list[timedelta]
    handoffs: int
    escalations: int
    promise_kept: bool | None


async def case_figures(session: AsyncSession, *, case: Case, rules: Rules) -> CaseFigures:
    reqs = (await session.exec(select(Request).where(Request.case_id == case.id))).all()
    steps = (
        await session.exec(
            select(Event).where(Event.case_id == case.id, col(Event.kind).like("step:%"))
        )
    ).all()
    times = []
    on_time = 0
    for r in reqs:
        if r.answered_at is None:
            continue
        person = await session.get(Person, r.answered_by_id) if r.answered_by_id else None
        times.append(calendar_of(person, rules.calendar).between(r.opened_at, r.answered_at))
        on_time += r.answered_at <= r.deadline
    return CaseFigures(
        requests=len(reqs),
        answered=len(times),
        on_time=on_time,
        time_to_answer=times,
        handoffs=case.handoffs,
        escalations=len(steps),
        promise_kept=case.promise_kept,
    )


def _name(people: dict[int, Person], pid: int | None) -> str:
    p = people.get(pid) if pid is not None else None
    return p.name if p else "someone"


async def case_status(
    session: AsyncSession, *, rules: Rules, case_key: str, viewer: Person, sight: Sight
) -> Message:
    """The case as far as `sight` goes: the header and the viewer's requests to the people asked
    on it; the promise, every request, the timeline and the figures to the owner's side."""
    case = await get_case(session, case_key)
    tz = calendar_of(viewer, rules.calendar).tz
    people = {p.id: p for p in (await session.exec(select(Person))).all() if p.id is not None}
    reqs = (
        await session.exec(
            select(Request).where(Request.case_id == case.id).order_by(col(Request.id))
        )
    ).all()
    lines: list[tuple[Segment, ...] | Segment] = [
        join(Strong(f"{case.key} · {case.customer}"), f" — {case.summary}"),
        f"\nOwner: {_name(people, case.owner_id)} · {case.priority} · {case.status}"
        + f" · handoffs: {case.handoffs}",
    ]
    if not sight.full:
        lines += await _request_lines(session, [r for r in reqs if sight.shows(r)], people, tz)
        return Message("status", join(*lines), case=case.key, private=True)
    lines.append(
        "\nPromise: "
        + (when_for(case.promise_at, tz) if case.promise_at else "none")
        + (f" ({case.promise_text})" if case.promise_text else "")
        + {True: " — kept", False: " — missed", None: ""}[case.promise_kept]
    )
    lines += await _request_lines(session, list(reqs), people, tz)
    events = (
        await session.exec(
            select(Event).where(Event.case_id == case.id).order_by(col(Event.at), col(Event.id))
        )
    ).all()
    lines.append(join("\n", Strong("Timeline")))
    for e in events:
        lines.append(f"\n{when_for(e.at, tz)} · {e.text}")
    figures = await case_figures(session, case=case, rules=rules)
    lines.append(join("\n", Strong("Figures"), " ", figures_text(figures)))
    return Message("status", join(*lines), case=case.key, private=True)


async def _request_lines(
    session: AsyncSession, reqs: list[Request], people: dict[int, Person], tz: str
) -> list[tuple[Segment, ...] | Segment]:
    if not reqs:
        return []
    lines: list[tuple[Segment, ...] | Segment] = [join("\n", Strong("Requests"))]
    for r in reqs:
        team = await session.get(Team, r.team_id) if r.team_id else None
        who = _name(people, r.assignee_id) if r.assignee_id else (team.name if team else "?")
        state = r.status + (f", ETA {when_for(r.eta, tz)}" if r.eta else "")
        lines.append(
            f"\n• {r.key} → {who}: {r.question} — {state}, due {when_for(r.deadline, tz)}"
            + (f"\n   answer: {r.answer}" if r.answer else "")
        )
    return lines


def figures_text(f: CaseFigures) -> str:
    answer_times = ", ".join(format_duration(t) for t in f.time_to_answer) or "—"
    kept = {True: "kept", False: "broken", None: "not decided yet"}[f.promise_kept]
    return (
        f"requests {f.requests}, answered {f.answered} ({f.on_time} on time); "
        f"time to answer (business time): {answer_times}; handoffs: {f.handoffs}; "
        f"ladder steps fired: {f.escalations}; promise: {kept}"
    )


async def mine(session: AsyncSession, *, rules: Rules, actor: Person, now: datetime) -> Message:
    tz = calendar_of(actor, rules.calendar).tz
    cases = (
        await session.exec(
            select(Case)
            .where(Case.owner_id == actor.id, Case.status == CaseStatus.OPEN)
            .order_by(col(Case.promise_at).is_(None), col(Case.promise_at), col(Case.id))
        )
    ).all()
    team_ids = select(Membership.team_id).where(Membership.person_id == actor.id)
    asked = (
        await session.exec(
            select(Request)
            .where(
                col(Request.status).in_(OPEN_REQUEST_STATES),
                or_(
                    col(Request.assignee_id) == actor.id,
                    col(Request.assignee_id).is_(None) & col(Request.team_id).in_(team_ids),
                ),
            )
            .order_by(col(Request.deadline))
        )
    ).all()
    lines: list[tuple[Segment, ...] | Segment] = [Strong("My cases")]
    for c in cases:
        promise = when_for(c.promise_at, tz) if c.promise_at else "no promise"
        lines.append(f"\n• {c.key} {c.customer}: {c.summary} — promise {promise}")
    if not cases:
        lines.append("\nNo open cases.")
    lines.append(join("\n", Strong("Asked of me")))
    for r in asked:
        late = " — OVERDUE" if r.deadline < now else ""
        lines.append(
            f"\n• {r.key} ({r.status}): {r.question} — due {when_for(r.deadline, tz)}{late}"
        )
    if not asked:
        lines.append("\nNothing is waiting on you.")
    return Message("mine", join(*lines), private=True)
