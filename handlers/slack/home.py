"""App Home: "My cases", "Asked of me" and, for managers, "My team at risk".

Only the viewer's own work (and, for a manager, their people's) is shown, so nothing leaks to
someone who is not involved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.directory import Rules, calendar_of, mention
from bot.ladder import colleague_actions
from bot.notices import when_for
from handlers.slack import render as rs
from handlers.slack.wording import say
from storage.states import OPEN_REQUEST_STATES, CaseStatus, Step, TimerOutcome
from storage.tables import Case, Membership, Person, Request, Team, Timer

MAX_ITEMS = 12


def _header(text: str) -> rs.Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


async def home_view(
    s: AsyncSession, *, person: Person, rules: Rules, now: datetime, links: dict[int, str]
) -> dict[str, Any]:
    tz = calendar_of(person, rules.calendar).tz
    blocks: list[rs.Block] = [_header(say("slack_home_my_cases"))]
    cases = (
        await s.exec(
            select(Case)
            .where(Case.owner_id == person.id, Case.status == CaseStatus.OPEN)
            .order_by(col(Case.promise_at).is_(None), col(Case.promise_at), col(Case.id))
            .limit(MAX_ITEMS)
        )
    ).all()
    for c in cases:
        promise = (
            rs.date(c.promise_at, when_for(c.promise_at, tz))
            if c.promise_at
            else say("slack_home_no_promise")
        )
        text = f"*{rs.escape(c.key)} · {rs.escape(c.customer)}*: {rs.escape(c.summary[:200])}"
        text += "\n" + say("slack_home_promise", promise=promise)
        if c.id in links:
            text += f" · {rs.link(links[c.id], say('slack_home_open_thread'))}"
        blocks.append(rs.section(text))
    if not cases:
        blocks.append(rs.section(say("slack_home_no_cases")))

    blocks += [{"type": "divider"}, _header(say("slack_home_asked_of_me"))]
    team_ids = select(Membership.team_id).where(Membership.person_id == person.id)
    asked = (
        await s.exec(
            select(Request)
            .where(
                col(Request.status).in_(OPEN_REQUEST_STATES),
                or_(
                    col(Request.assignee_id) == person.id,
                    col(Request.assignee_id).is_(None) & col(Request.team_id).in_(team_ids),
                ),
            )
            .order_by(col(Request.deadline))
            .limit(MAX_ITEMS)
        )
    ).all()
    for r in asked:
        case = await s.get(Case, r.case_id)
        owner = await s.get(Person, case.owner_id) if case else None
        late = say("slack_home_overdue_mark") if r.deadline < now else ""
        text = (
            f"*{rs.escape(r.key)}* ({rs.escape(r.status)}) for "
            f"{rs.mention(mention(owner)) if owner else say('slack_home_someone')}"
            f" on {rs.escape(case.key if case else '?')}: {rs.escape(r.question[:300])}\n"
            + say("slack_home_due", due=rs.date(r.deadline, when_for(r.deadline, tz)), late=late)
        )
        blocks.append(rs.section(text))
        actions = [a for a in colleague_actions(r) if not (a.name == "ack" and r.acked_at)]
        blocks.append(rs.actions_block(actions))
    if not asked:
        blocks.append(rs.section(say("slack_home_nothing_asked")))

    at_risk = await team_at_risk(s, person=person, now=now)
    if at_risk is not None:
        blocks += [{"type": "divider"}, _header(say("slack_home_team_at_risk"))]
        for r, who in at_risk[:MAX_ITEMS]:
            case = await s.get(Case, r.case_id)
            state = say(
                "slack_home_state_overdue" if r.deadline < now else "slack_home_state_at_risk"
            )
            blocks.append(
                rs.section(
                    f"*{rs.escape(r.key)}* on {rs.escape(case.key if case else '?')} → "
                    f"{who}: {rs.escape(r.question[:200])}\n*{state}*, due "
                    f"{rs.date(r.deadline, when_for(r.deadline, tz))}"
                )
            )
        if not at_risk:
            blocks.append(rs.section(say("slack_home_team_fine")))
    return {"type": "home", "blocks": blocks[:100]}


async def team_at_risk(
    s: AsyncSession, *, person: Person, now: datetime
) -> list[tuple[Request, str]] | None:
    """Open requests of the people and teams this person manages that are at risk or late.

    None when the person manages nobody (the section is not shown).
    """
    reports = (await s.exec(select(Person).where(Person.manager_id == person.id))).all()
    teams = (await s.exec(select(Team).where(Team.manager_id == person.id))).all()
    if not reports and not teams:
        return None
    report_ids = [p.id for p in reports]
    team_ids = [t.id for t in teams]
    risky = select(Timer.request_id).where(
        col(Timer.step).in_((Step.AT_RISK, Step.OVERDUE)), Timer.outcome == TimerOutcome.FIRED
    )
    rows = (
        await s.exec(
            select(Request)
            .where(
                col(Request.status).in_(OPEN_REQUEST_STATES),
                or_(col(Request.assignee_id).in_(report_ids), col(Request.team_id).in_(team_ids)),
                or_(col(Request.deadline) < now, col(Request.id).in_(risky)),
            )
            .order_by(col(Request.deadline))
        )
    ).all()
    names = {p.id: rs.mention(mention(p)) for p in reports}
    out = []
    for r in rows:
        if r.assignee_id in names:
            who = names[r.assignee_id]
        elif r.assignee_id:
            p = await s.get(Person, r.assignee_id)
            who = rs.mention(mention(p)) if p else say("slack_home_someone")
        else:
            t = await s.get(Team, r.team_id) if r.team_id else None
            who = (
                rs.escape(say("slack_home_the_team", team=t.name))
                if t
                else say("slack_home_a_team")
            )
        out.append((r, who))
    return out
