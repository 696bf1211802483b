"""`ownit report --since 2026-10-01 --format csv|json`: the figures for a spreadsheet or BI tool.

One row per team and per person with activity (the organisation as a whole first), for the whole
period or for each week of it (`--period week`). Columns are the same in CSV and JSON; durations
are in business minutes and rates are shares between 0 and 1 (see docs/managers.md).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from bot import figures
from bot.business_time import Calendar
from bot.figures import execute
from storage.db import Database
from storage.tables import Case, Person, Request, Team


def periods(since: datetime, until: datetime, by_week: bool) -> list[tuple[datetime, datetime]]:
    if not by_week:
        return [(since, until)]
    out = []
    start = since
    while start < until:
        end = min(start + timedelta(weeks=1), until)
        out.append((start, end))
        start = end
    return out


async def rows(
    db: Database,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    default: Calendar,
    by_week: bool = False,
) -> list[dict[str, Any]]:
    """The export rows: organisation, then teams, then people who had requests or cases.

    People's figures come from grouped queries (one per figure for everyone), not one set each.
    """
    out: list[dict[str, Any]] = []
    async with db.reader() as s:
        teams = list((await execute(s, select(Team).order_by(col(Team.key)))).scalars().all())
        people = list(
            (await execute(s, select(Person).order_by(col(Person.handle)))).scalars().all()
        )
        active = {
            r[0]
            for r in (
                await execute(
                    s,
                    select(col(Request.assignee_id))
                    .where(col(Request.opened_at) < until, col(Request.assignee_id).is_not(None))
                    .distinct(),
                )
            ).all()
        }
        everyone = figures.Scope(
            label="everyone",
            people=tuple(p.id for p in people if p.id is not None),
            teams=tuple(t.id for t in teams if t.id is not None),
        )
        scopes: list[tuple[str, str, str, figures.Scope]] = [
            ("organisation", "*", "everyone", everyone)
        ]
        for t in teams:
            scopes.append(("team", t.key, t.name, await figures.team_scope(s, t)))
        owners = {
            r[0]
            for r in (
                await execute(
                    s, select(col(Case.owner_id)).where(col(Case.opened_at) < until).distinct()
                )
            ).all()
        }
        listed = [p for p in people if p.id in active or p.id in owners]
        ids = [p.id for p in listed if p.id is not None]

        def row(kind: str, key: str, name: str, f: figures.Figures) -> dict[str, Any]:
            values = {"kind": kind, "key": key, "name": name, **f.as_row()}
            values.pop("scope")
            if kind != "team":
                values["target_on_time"] = values["target_first_response_minutes"] = None
            return values

        for start, end in periods(since, until, by_week):
            for kind, key, name, scope in scopes:
                f = await figures.compute(
                    s, scope=scope, start=start, end=end, now=now, default=default
                )
                out.append(row(kind, key, name, f))
            each = await figures.compute_by_person(
                s, people=ids, start=start, end=end, now=now, default=default
            )
            for p in listed:
                assert p.id is not None
                out.append(row("person", p.handle, p.name, each[p.id]))
    return out


def to_csv(data: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if not data:
        return ""
    writer = csv.DictWriter(buf, fieldnames=list(data[0].keys()), lineterminator="\n")
    writer.writeheader()
    for row in data:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def to_json(data: list[dict[str, Any]], *, since: datetime, until: datetime) -> str:
    return json.dumps(
        {"since": since.isoformat(), "until": until.isoformat(), "rows": data}, indent=2
    )


def parse_day(text: str, cal: Calendar) -> datetime:
    """A date (local midnight of the default calendar) or a full ISO time."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        at = datetime.fromisoformat(text)
        if at.tzinfo is None:
            at = at.replace(tzinfo=cal.zone)
        return at.astimezone(UTC)
    return datetime(day.year, day.month, day.day, tzinfo=cal.zone).astimezone(UTC)


async def export(
    db: Database,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    default: Calendar,
    fmt: str = "csv",
    by_week: bool = False,
) -> str:
    data = await rows(db, since=since, until=until, now=now, default=default, by_week=by_week)
    return to_json(data, since=since, until=until) if fmt == "json" else to_csv(data)
