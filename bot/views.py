"""Read-only answers: a case with its requests and timeline, what is mine, a case's figures.

A case is shown as far as its viewer's `Sight` goes: all of it to the owner's side, the header
and their own requests to the people asked on it (docs/SECURITY.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.assist import summaries
from bot.cases import get_case
from bot.directory import Rules, calendar_of
from bot.involvement import Sight
from bot.messages import Message, Segment, Strong, compose, join, sentence
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
    renegotiations: int = 0


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
        renegotiations=case.promise_renegotiations,
    )


def _name(people: dict[int, Person], pid: int | None) -> str:
    p = people.get(pid) if pid is not None else None
    return p.name if p else sentence("view_someone")


_KEPT = {True: "view_promise_kept", False: "view_promise_missed"}


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
        Strong(sentence("view_case_title", case_key=case.key, customer=case.customer)),
        compose("view_case_summary", summary=case.summary),
        compose(
            "view_case_owner",
            owner=_name(people, case.owner_id),
            priority=case.priority,
            status=case.status,
            handoffs=case.handoffs,
        ),
    ]
    if not sight.full:
        lines += await _request_lines(session, [r for r in reqs if sight.shows(r)], people, tz)
        return Message("status", join(*lines), case=case.key, private=True)
    lines.append(
        compose(
            "view_case_promise",
            promise=when_for(case.promise_at, tz) if case.promise_at else sentence("cmd_none"),
            what=sentence("view_promise_what", what=case.promise_text)
            if case.promise_text
            else None,
            kept=None if case.promise_kept is None else sentence(_KEPT[case.promise_kept]),
            earlier=sentence(
                "view_promise_earlier",
                renegotiated=case.promise_renegotiations,
                broken=case.promise_breaks,
            )
            if case.promise_renegotiations or case.promise_breaks
            else None,
        )
    )
    lines += await _request_lines(session, list(reqs), people, tz)
    summed_up = await summaries.current(session, case)
    if summed_up:
        lines.append(compose("view_case_summed_up", paragraph=summed_up))
    events = (
        await session.exec(
            select(Event).where(Event.case_id == case.id).order_by(col(Event.at), col(Event.id))
        )
    ).all()
    lines.append(join("\n", Strong(sentence("view_timeline"))))
    for e in events:
        lines.append(compose("view_timeline_line", at=when_for(e.at, tz), text=e.text))
    figures = await case_figures(session, case=case, rules=rules)
    lines.append(join("\n", Strong(sentence("view_figures")), " ", figures_text(figures)))
    return Message("status", join(*lines), case=case.key, private=True)


async def _request_lines(
    session: AsyncSession, reqs: list[Request], people: dict[int, Person], tz: str
) -> list[tuple[Segment, ...] | Segment]:
    if not reqs:
        return []
    lines: list[tuple[Segment, ...] | Segment] = [join("\n", Strong(sentence("view_requests")))]
    for r in reqs:
        team = await session.get(Team, r.team_id) if r.team_id else None
        who = _name(people, r.assignee_id) if r.assignee_id else (team.name if team else "?")
        lines.append(
            compose(
                "view_request",
                request_key=r.key,
                who=who,
                question=r.question,
                status=r.status,
                eta=sentence("cmd_eta", eta=when_for(r.eta, tz)) if r.eta else None,
                deadline=when_for(r.deadline, tz),
                answer=sentence("view_request_answer", answer=r.answer) if r.answer else None,
            )
        )
    return lines


def figures_text(f: CaseFigures) -> str:
    answer_times = ", ".join(format_duration(t) for t in f.time_to_answer)
    kept = {True: "view_figures_kept", False: "view_figures_broken", None: "view_figures_undecided"}
    return sentence(
        "view_figures_text",
        requests=f.requests,
        answered=f.answered,
        on_time=f.on_time,
        times=answer_times or sentence("view_no_times"),
        handoffs=f.handoffs,
        escalations=f.escalations,
        kept=sentence(kept[f.promise_kept])
        + (sentence("view_figures_renegotiated", n=f.renegotiations) if f.renegotiations else ""),
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
    lines: list[tuple[Segment, ...] | Segment] = [Strong(sentence("view_my_cases"))]
    for c in cases:
        promise = when_for(c.promise_at, tz) if c.promise_at else sentence("view_no_promise")
        lines.append(
            compose(
                "view_my_case",
                case_key=c.key,
                customer=c.customer,
                summary=c.summary,
                promise=promise,
            )
        )
    if not cases:
        lines.append(sentence("view_no_cases"))
    lines.append(join("\n", Strong(sentence("view_asked_of_me"))))
    for r in asked:
        lines.append(
            compose(
                "view_asked",
                request_key=r.key,
                status=r.status,
                question=r.question,
                deadline=when_for(r.deadline, tz),
                late=sentence("view_overdue") if r.deadline < now else None,
            )
        )
    if not asked:
        lines.append(sentence("view_nothing_asked"))
    return Message("mine", join(*lines), private=True)
