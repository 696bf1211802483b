"""The case card in a Teams channel, kept in step with the case.

The card ownit posts when a case is opened in a channel heads the case's reply chain. Whenever
something about the case happens through Teams (a command, a button, a notice delivered), the
card is rebuilt from the rows and, if it changed, updated in place. Best effort: a failed update
is logged and tried again at the next change.
"""

from __future__ import annotations

import hashlib
import json
import logging

from sqlmodel import col, select

from bot.assist import summaries
from bot.directory import calendar_of, mention
from bot.messages import Action, Message, Segment, Strong, compose, join
from bot.notices import when_for
from bot.runtime.app import Ownit
from handlers.teams import render as render_teams
from handlers.teams import syntax
from handlers.teams.activities import PLATFORM
from handlers.teams.connector import Connector
from handlers.teams.references import latest_service_url
from handlers.teams.wording import wording
from storage.states import CaseStatus
from storage.tables import Case, Person, Request, Team

log = logging.getLogger(__name__)


async def case_message(app: Ownit, case: Case) -> Message:
    """The card's content: who owns it, the promise, and every request with its state."""
    rules = await app.rules()
    async with app.db.reader() as s:
        owner = await s.get(Person, case.owner_id)
        tz = calendar_of(owner, rules.calendar).tz
        reqs = (
            await s.exec(
                select(Request).where(Request.case_id == case.id).order_by(col(Request.id))
            )
        ).all()
        summed_up = await summaries.current(s, case)
        names: list[Segment] = []
        for r in reqs:
            who = await s.get(Person, r.assignee_id) if r.assignee_id else None
            team = await s.get(Team, r.team_id) if r.team_id and who is None else None
            if who is not None:
                names.append(who.name)
            elif team is not None:
                names.append(wording("teams_case_card_team", team=team.name))
            else:
                names.append(wording("teams_case_card_someone"))
    promise = (
        when_for(case.promise_at, tz) if case.promise_at else wording("teams_case_card_no_promise")
    )
    lines: list[tuple[Segment, ...] | Segment] = [
        Strong(wording("teams_case_card_title", case_key=case.key, customer=case.customer)),
        compose("teams_case_card_summary", summary=case.summary),
        compose(
            "teams_case_card_owner",
            owner=mention(owner) if owner else wording("teams_case_card_someone"),
            priority=case.priority,
            status=case.status,
            promise=promise,
        ),
    ]
    for r, name in zip(reqs, names, strict=True):
        lines.append(
            compose(
                "teams_case_card_request",
                request_key=r.key,
                name=name,
                question=r.question,
                status=r.status,
                deadline=when_for(r.deadline, tz),
            )
        )
        if r.answer:
            lines.append(compose("teams_case_card_answer", answer=r.answer))
    if summed_up:
        lines.append(compose("teams_case_card_summed_up", paragraph=summed_up))
    actions = (
        (Action("update", case.key, wording("teams_case_card_draft")),)
        if case.status == CaseStatus.OPEN
        else ()
    )
    return Message("case_card", join(*lines), case=case.key, actions=actions)


class CaseCards:
    def __init__(self, app: Ownit, connector: Connector, default_service_url: str | None) -> None:
        self.app = app
        self.connector = connector
        self.default_service_url = default_service_url
        self._shown: dict[int, str] = {}

    async def refresh(self, *, case_key: str | None = None, request_key: str | None = None) -> None:
        try:
            await self._refresh(case_key, request_key)
        except Exception as exc:
            log.warning("updating the Teams card of %s failed: %s", case_key or request_key, exc)

    async def _refresh(self, case_key: str | None, request_key: str | None) -> None:
        async with self.app.db.reader() as s:
            case_id: int | None = None
            if case_key and case_key.upper().startswith("C-") and case_key[2:].isdigit():
                case_id = int(case_key[2:])
            elif request_key and request_key.upper().startswith("R-") and request_key[2:].isdigit():
                req = await s.get(Request, int(request_key[2:]))
                case_id = req.case_id if req else None
            case = await s.get(Case, case_id) if case_id else None
            if case is None or case.platform != PLATFORM or not case.thread or not case.message:
                return
            service_url = await latest_service_url(s) or self.default_service_url
        if not service_url:
            return
        msg = syntax.message(await case_message(self.app, case), in_channel=True)
        activity = render_teams.activity(msg)
        digest = hashlib.sha256(
            json.dumps(render_teams.card(msg), sort_keys=True).encode()
        ).hexdigest()
        assert case.id is not None
        if self._shown.get(case.id) == digest:
            return
        await self.connector.update(service_url, case.thread, case.message, activity)
        self._shown[case.id] = digest
