"""Managers' digests: daily at their chosen time on business days, weekly on the first business day.

A digest says what of their people is at risk or overdue now, the escalations and promises since
the last digest, and the team's figures against its targets (and, weekly, against the previous
quarter, with a chart). `/case digest [team]` gives one on demand.

Exactly once per manager and period, with any number of replicas: the sweep inserts a `DigestRun`
row whose primary key names the manager and period (`daily:12:2026-11-24`, `weekly:12:2026-W48`)
in the same transaction as the outbox notice. A second replica racing for the same key blocks on
the key and then fails to insert it, so it sends nothing; a crash before commit leaves neither, and
the next sweep (after a restart too) sends it. A digest is sent on its own local day only: a
process that was down all day does not send yesterday's digest late.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import charts, figures
from bot.business_time import WEEKDAY_ALIASES, Calendar, format_when
from bot.directory import Rules, calendar_of, manages, mention, normalise_handle, team_by_key
from bot.errors import NotAllowed, Refusal
from bot.figures import execute
from bot.messages import Code, Message, Segment, compose, join
from bot.notices import notify, when_for
from bot.policy import format_duration
from storage.db import Database
from storage.tables import Case, DigestRun, Person, Request, Setting, Team, Timer

if TYPE_CHECKING:
    from bot.runtime.app import Ownit

log = logging.getLogger(__name__)

LISTED = 8
WEEKS = 12
MAX_LOOKBACK = timedelta(days=7)
_LOCK_SPACE = 74_211_002  # advisory locks of digests in progress (PostgreSQL)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# --- preferences ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prefs:
    """When a manager gets digests; stored as Setting `digest:<person id>` (org-wide: `digest`)."""

    at: time = time(9, 0)
    weekly: int = 0  # Monday
    all_clear: bool = False
    enabled: bool = True

    @classmethod
    def from_dict(cls, d: dict[str, Any], base: Prefs | None = None) -> Prefs:
        p = base or cls()
        if "at" in d:
            hh, mm = (int(x) for x in str(d["at"]).split(":"))
            p = replace(p, at=time(hh, mm))
        if "weekly" in d:
            p = replace(p, weekly=int(d["weekly"]))
        if "all_clear" in d:
            p = replace(p, all_clear=bool(d["all_clear"]))
        if "enabled" in d:
            p = replace(p, enabled=bool(d["enabled"]))
        return p

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": f"{self.at:%H:%M}",
            "weekly": self.weekly,
            "all_clear": self.all_clear,
            "enabled": self.enabled,
        }

    def describe(self) -> str:
        if not self.enabled:
            return "digests off"
        return (
            f"daily at {self.at:%H:%M} on business days, weekly on the first business day from "
            f"{_DAYS[self.weekly].capitalize()}; all-clear messages "
            f"{'on' if self.all_clear else 'off'}"
        )


async def load_prefs(session: AsyncSession) -> tuple[Prefs, dict[int, Prefs]]:
    rows = (
        (await execute(session, select(Setting).where(col(Setting.name).like("digest%"))))
        .scalars()
        .all()
    )
    base = Prefs()
    for row in rows:
        if row.name == "digest":
            base = Prefs.from_dict(row.value)
    own: dict[int, Prefs] = {}
    for row in rows:
        if row.name.startswith("digest:"):
            own[int(row.name.split(":", 1)[1])] = Prefs.from_dict(row.value, base)
    return base, own


async def configure(
    session: AsyncSession, *, actor: Person, who: Person | None, args: list[str]
) -> Message:
    """`/case admin digest [@manager|all] [at HH:MM | weekly <day> | all_clear on|off | on|off]`.

    A manager changes their own; an admin anyone's, or everyone's default with `all`.
    """
    target = who or actor
    org_wide = bool(args[:1] == ["all"])
    if org_wide:
        args = args[1:]
    if (org_wide or target.id != actor.id) and not actor.is_admin:
        raise NotAllowed("You can change your own digest; an admin can change anyone's.")
    name = "digest" if org_wide else f"digest:{target.id}"
    row = await session.get(Setting, name)
    base, own = await load_prefs(session)
    current = base if org_wide else own.get(target.id or 0, base)
    if not args:
        return Message("admin", (f"Digest for {'everyone' if org_wide else target.name}: "
                                 f"{current.describe()}.",), private=True)  # fmt: skip
    values = dict(row.value) if row else {}
    word = args[0].lower()
    if word == "at" and len(args) == 2 and re.fullmatch(r"\d{1,2}:\d{2}", args[1]):
        hh, mm = (int(x) for x in args[1].split(":"))
        if hh > 23 or mm > 59:
            raise Refusal("Give the time as HH:MM, like 08:30.")
        values["at"] = f"{hh:02d}:{mm:02d}"
    elif word == "weekly" and len(args) == 2 and args[1].lower() in WEEKDAY_ALIASES:
        values["weekly"] = WEEKDAY_ALIASES[args[1].lower()]
    elif word in ("all_clear", "all-clear") and len(args) == 2 and args[1] in ("on", "off"):
        values["all_clear"] = args[1] == "on"
    elif word in ("on", "off") and len(args) == 1:
        values["enabled"] = word == "on"
    else:
        raise Refusal(
            "I can't read that digest setting.",
            "/case admin digest [@manager|all] at 08:30 | weekly mon | all_clear on|off | on|off",
        )
    if row is None:
        row = Setting(name=name, value=values)
    row.value = values
    session.add(row)
    updated = Prefs.from_dict(values, None if org_wide else base)
    return Message(
        "admin",
        (f"Digest for {'everyone' if org_wide else target.name}: {updated.describe()}.",),
        private=True,
    )


# --- when digests are due ---------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    kind: str  # "daily" or "weekly"
    key: str
    start: datetime  # the start of the period its figures cover


def weekly_day(cal: Calendar, day: date, weekday: int) -> date | None:
    """The day of `day`'s week the weekly digest goes out: the first business day from `weekday`."""
    monday = day - timedelta(days=day.weekday())
    for i in range(weekday, 7):
        candidate = monday + timedelta(days=i)
        if cal.is_business_day(candidate):
            return candidate
    return None


def local_midnight(day: date, cal: Calendar) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=cal.zone).astimezone(UTC)


def due_runs(cal: Calendar, prefs: Prefs, now: datetime, manager_id: int) -> list[Due]:
    """The digests due for a manager at `now`: today's daily (and weekly, on its day)."""
    if not prefs.enabled:
        return []
    today = now.astimezone(cal.zone).date()
    if not cal.is_business_day(today):
        return []
    if now < datetime.combine(today, prefs.at, tzinfo=cal.zone).astimezone(UTC):
        return []
    runs: list[Due] = []
    if weekly_day(cal, today, prefs.weekly) == today:
        year, week, _ = today.isocalendar()
        monday = today - timedelta(days=today.weekday())
        runs.append(
            Due(
                "weekly",
                f"weekly:{manager_id}:{year}-W{week:02d}",
                local_midnight(monday - timedelta(weeks=1), cal),
            )
        )
    runs.append(Due("daily", f"daily:{manager_id}:{today.isoformat()}", now - timedelta(days=1)))
    return runs


async def managers(session: AsyncSession) -> list[Person]:
    """Everyone who manages a person or a team."""
    ids = select(col(Person.manager_id)).where(col(Person.manager_id).is_not(None))
    team_ids = select(col(Team.manager_id)).where(col(Team.manager_id).is_not(None))
    rows = await execute(
        session,
        select(Person)
        .where(or_(col(Person.id).in_(ids), col(Person.id).in_(team_ids)))
        .order_by(col(Person.id)),
    )
    return list(rows.scalars().all())


async def last_sent(session: AsyncSession, manager_id: int) -> datetime | None:
    row = await execute(
        session,
        select(col(DigestRun.sent_at))
        .where(col(DigestRun.manager_id) == manager_id)
        .order_by(col(DigestRun.sent_at).desc())
        .limit(1),
    )
    value = row.first()
    return value[0] if value else None


# --- what a digest says -----------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return f"{100 * x:.0f} %" if x is not None else "—"


def _dur(d: timedelta | None) -> str:
    return format_duration(d) if d is not None else "—"


async def at_risk_now(
    session: AsyncSession, *, scope: figures.Scope, now: datetime
) -> tuple[int, list[tuple[Request, Case]]]:
    """Open requests of the scope that are overdue, or whose at-risk step has fired."""
    if not scope.people and not scope.teams:
        return 0, []
    fired = exists().where(
        col(Timer.request_id) == col(Request.id),
        col(Timer.step) == "at_risk",
        col(Timer.outcome) == "fired",
    )
    cond = (
        figures.asked_of(scope),
        col(Request.status).in_(figures.OPEN_STATES),
        or_(col(Request.deadline) < now, fired),
    )
    count = (await execute(session, select(func.count()).select_from(Request).where(*cond))).one()[
        0
    ]
    rows = (
        await execute(
            session,
            select(Request, Case)
            .join(Case, col(Case.id) == col(Request.case_id))
            .where(*cond)
            .order_by(col(Request.deadline), col(Request.id))
            .limit(LISTED),
        )
    ).all()
    return int(count), [(r, c) for r, c in rows]


@dataclass
class Digest:
    """A digest in the making: the message, and whether it has anything to say."""

    message: Message
    empty: bool


async def build(
    session: AsyncSession,
    *,
    rules: Rules,
    reader: Person,
    scope: figures.Scope,
    title: str,
    start: datetime,
    end: datetime,
    now: datetime,
    weekly: bool,
    compare: bool = False,
    db: Database | None = None,
) -> Digest:
    """The digest of `scope`: what is at risk now, and the figures of [start, end).

    With `db` on PostgreSQL the independent reads run at once on their own connections.
    """
    cal = calendar_of(reader, rules.calendar)
    tz = cal.tz
    q_start, q_end = figures.previous_quarter(now, cal.zone)
    jobs: dict[str, Callable[[AsyncSession], Awaitable[Any]]] = {
        "f": lambda s: figures.compute(
            s, scope=scope, start=start, end=end, now=now, default=rules.calendar, db=db
        ),
        "risk": lambda s: at_risk_now(s, scope=scope, now=now),
        "people": lambda s: figures.per_person(s, scope=scope, start=start, end=end, now=now),
    }
    if weekly or compare:
        jobs["prev"] = lambda s: figures.compute(
            s, scope=scope, start=q_start, end=q_end, now=now, default=rules.calendar, brief=True
        )
    chart: asyncio.Future[dict[str, Any]] | None = None
    points: list[figures.WeekPoint] = []
    if weekly:  # the chart is drawn in a thread while the other figures are read
        points = await figures.weekly_series(
            session, scope=scope, end=end, now=now, weeks=WEEKS, tz=cal.zone
        )
        year, week, _ = start.astimezone(cal.zone).date().isocalendar()
        chart = asyncio.ensure_future(
            asyncio.to_thread(
                charts.chart_extra,
                points,
                target=scope.target_on_time,
                title=f"{scope.label}: on time and promises kept",
                filename=f"ownit-weekly-{year}-W{week:02d}.png",
            )
        )
    try:
        got = await figures.reads(session, db, jobs)
    except BaseException:
        if chart is not None:
            chart.cancel()
        raise
    f: figures.Figures = got["f"]
    count, risky = got["risk"]
    if not count and not f.active:
        if chart is not None:
            chart.cancel()
        line = compose("digest_all_clear", scope=scope.label, since=when_for(start, tz))
        return Digest(Message("digest", line), empty=True)

    if weekly:
        period = f"week of {format_when(start, tz).rsplit(' ', 1)[0]}"
    else:
        period = f"since {when_for(start, tz)}"
    lines: list[tuple[Segment, ...]] = [
        compose("digest_header", title=title, scope=scope.label, period=period)
    ]
    if count:
        lines.append(compose("digest_at_risk_head", count=count))
        names = await _names(session, {r.assignee_id for r, _ in risky} - {None})
        for req, case in risky:
            state = "overdue" if req.deadline < now else "at risk"
            who = names.get(req.assignee_id) if req.assignee_id else None
            lines.append(
                compose(
                    "digest_request_line",
                    request_key=req.key,
                    state=state,
                    colleague=mention(who) if who else "unclaimed team request",
                    question=req.question[:80],
                    case_key=case.key,
                    customer=case.customer,
                    deadline=when_for(req.deadline, tz),
                    command=Code(f"/case status {case.key}"),
                )
            )
        if count > len(risky):
            lines.append(compose("digest_more", count=count - len(risky)))
    lines.append(compose("digest_escalations", **f.escalations))
    decided = f.promises_kept + f.promises_broken
    lines.append(
        compose(
            "digest_promises",
            kept=f.promises_kept,
            broken=f.promises_broken,
            rate=f" ({_pct(f.promise_rate)} kept)" if decided else "",
        )
    )
    quarter = ""
    prev: figures.Figures | None = got.get("prev")
    if prev is not None:
        if prev.on_time_rate is not None:
            quarter = f", last quarter {_pct(prev.on_time_rate)}"
    rate = f.on_time_rate
    verdict = ""
    if rate is not None:
        verdict = " Below target." if rate < scope.target_on_time else " On target."
    if f.due:
        lines.append(
            compose(
                "digest_on_time",
                rate=_pct(rate),
                due=f.due,
                target=_pct(scope.target_on_time),
                vs_quarter=quarter,
                verdict=verdict,
            )
        )
    if f.ack_median is not None or f.answer_median is not None:
        lines.append(
            compose(
                "digest_response",
                ack_median=_dur(f.ack_median),
                ack_p90=_dur(f.ack_p90),
                target=format_duration(timedelta(minutes=scope.target_first_response_minutes)),
                answer_median=_dur(f.answer_median),
                answer_p90=_dur(f.answer_p90),
            )
        )
    if f.cases_resolved:
        lines.append(
            compose(
                "digest_handoffs",
                per_case=f"{f.handoffs_per_case or 0:.1f}",
                transfers=f.transfers,
                redirects=f.redirects,
                cases=f.cases_resolved,
            )
        )
    if f.csat_count:
        lines.append(
            compose(
                "digest_csat",
                average=f"{f.csat_average or 0:.1f}",
                count=f.csat_count,
                satisfied=_pct(f.csat_rate),
            )
        )
    if f.cases_opened:
        lines.append(
            compose(
                "digest_cases",
                count=f.cases_opened,
                categories=", ".join(f"{c} {n}" for c, n in f.categories) or "—",
                repeats=", ".join(f"{c} ({n})" for c, n in f.repeat_customers) or "none",
            )
        )
    people = [p for p in got["people"] if p.due >= 2 and p.rate < scope.target_on_time][:3]
    if people:
        names = await _names(session, {p.person_id for p in people})
        parts: list[tuple[Segment, ...] | Segment] = [compose("digest_attention")]
        for i, p in enumerate(people):
            who = names.get(p.person_id)
            parts.append((", " if i else "",))
            parts.append(mention(who) if who else "someone")
            parts.append(f" {p.on_time} of {p.due} on time")
        lines.append(join(*parts))
    extra: dict[str, Any] = {}
    if chart is not None:
        extra["chart"] = await chart
        extra["chart_series"] = charts.series(points)
        lines.append(compose("digest_chart"))
    return Digest(Message("digest", join(*lines, sep="\n"), extra=extra), empty=False)


async def _names(session: AsyncSession, ids: set[int | None]) -> dict[int | None, Person]:
    clean = {i for i in ids if i is not None}
    if not clean:
        return {}
    rows = (await execute(session, select(Person).where(col(Person.id).in_(clean)))).scalars()
    return {p.id: p for p in rows.all()}


# --- on demand ---------------------------------------------------------------------------------


async def may_see_team(session: AsyncSession, actor: Person, team: Team) -> bool:
    """A team's manager, anyone above them, or an admin."""
    if actor.is_admin or team.manager_id == actor.id:
        return True
    manager = await session.get(Person, team.manager_id) if team.manager_id else None
    return manager is not None and await manages(session, actor, manager)


async def on_demand(
    session: AsyncSession, *, rules: Rules, actor: Person, team: str | None, now: datetime
) -> Message:
    """`/case digest [team]`: the last seven days, for the actor's people or one of their teams."""
    if team:
        t = await team_by_key(session, team)
        if t is None:
            raise Refusal(f"There is no team @{normalise_handle(team)}.")
        if not await may_see_team(session, actor, t):
            raise NotAllowed(f"Only the manager of @{t.key} (or above them) sees its digest.")
        scope = await figures.team_scope(session, t)
    else:
        scope = await figures.manager_scope(session, actor)
        if not scope.people and not scope.teams:
            raise Refusal(
                "You don't manage anyone yet, so there is no digest for you. "
                "Managers are set in the org file or with `/case admin manager`."
            )
    digest = await build(
        session,
        rules=rules,
        reader=actor,
        scope=scope,
        title="Digest",
        start=now - timedelta(days=7),
        end=now + timedelta(seconds=1),
        now=now,
        weekly=False,
        compare=True,
    )
    msg = digest.message
    return Message(msg.kind, msg.segments, private=True, extra=msg.extra)


# --- the sweep ---------------------------------------------------------------------------------


class Digester:
    """Sends the digests that are due; `run(stop)` is the background loop of every replica."""

    def __init__(self, app: Ownit) -> None:
        self.app = app
        self.sent = 0
        self.settled_at: datetime | None = None  # a sweep at this time left nothing to do

    async def sweep(self) -> int:
        """Send every digest due now that no replica has sent; returns how many were queued."""
        app = self.app
        now = await app.clock.now()
        if now == self.settled_at:  # a simulated clock that has not moved
            return 0
        rules = await app.rules()
        async with app.db.reader() as s:
            people = await managers(s)
            base, own = await load_prefs(s)
        due: list[tuple[Person, list[Due]]] = []
        for m in people:
            assert m.id is not None
            cal = figures.calendar_for(m, rules.calendar)
            runs = due_runs(cal, own.get(m.id, base), now, m.id)
            if runs:
                due.append((m, runs))
        if not due:
            self.settled_at = now
            return 0
        keys = [d.key for _, runs in due for d in runs]
        async with app.db.reader() as s:
            done = set(
                (await execute(s, select(col(DigestRun.key)).where(col(DigestRun.key).in_(keys))))
                .scalars()
                .all()
            )
        sent = 0
        unsettled = False
        random.shuffle(due)  # replicas sweeping together start on different managers
        for manager, runs in due:
            todo = [d for d in runs if d.key not in done]
            if not todo:
                continue
            try:
                result = await self._send(
                    manager, todo, prefs=own.get(manager.id or 0, base), rules=rules, now=now
                )
            except IntegrityError:
                log.info("digest for %s already sent by another replica", manager.handle)
            except Exception:
                log.exception("digest for %s failed; retrying at the next sweep", manager.handle)
                unsettled = True
            else:
                unsettled = unsettled or result is None
                sent += result or 0
        if not unsettled:
            self.settled_at = now
        self.sent += sent
        if sent:
            app.deliverer.wake.set()
        return sent

    async def _send(
        self, manager: Person, runs: list[Due], *, prefs: Prefs, rules: Rules, now: datetime
    ) -> int | None:
        """1 if a digest was queued, 0 if not (nothing to say), None if another replica is on it."""
        assert manager.id is not None
        weekly = next((d for d in runs if d.kind == "weekly"), None)
        async with self.app.db.session() as s:
            if self.app.db.postgres:
                # Another replica building this manager's digest holds the lock: leave it to it
                # rather than wait on its key (if it fails, the next sweep finds the key free).
                key = zlib.crc32(runs[0].key.encode()) - 2**31
                got = await execute(s, select(func.pg_try_advisory_xact_lock(_LOCK_SPACE, key)))
                if not got.scalar():
                    log.info("digest for %s is being sent by another replica", manager.handle)
                    return None
            previous = await last_sent(s, manager.id)
            rows = [
                DigestRun(
                    key=d.key,
                    manager_id=manager.id,
                    period=d.kind,
                    period_start=d.start,
                    sent_at=now,
                )
                for d in runs
            ]
            s.add_all(rows)
            await s.flush()  # the claim: a replica racing for the same key stops here
            scope = await figures.manager_scope(s, manager)
            cal = calendar_of(manager, rules.calendar)
            if weekly is not None:
                today = now.astimezone(cal.zone).date()
                start = weekly.start
                end = local_midnight(today - timedelta(days=today.weekday()), cal)
            else:
                start = max(previous or now - timedelta(days=1), now - MAX_LOOKBACK)
                end = now
            digest = await build(
                s,
                rules=rules,
                reader=manager,
                scope=scope,
                title="Weekly digest" if weekly else "Daily digest",
                start=start,
                end=end,
                now=now,
                weekly=weekly is not None,
                db=self.app.db,
            )
            for row in rows:
                row.empty = digest.empty
                row.period_start = start
                s.add(row)
            if digest.empty and not prefs.all_clear:
                return 0
            notify(s, to=manager, msg=digest.message, at=now)
            return 1

    async def run(self, stop: asyncio.Event) -> None:
        poll = 1.0 if self.app.clock.simulated else 30.0
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("digest sweep failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll)
            except TimeoutError:
                pass
