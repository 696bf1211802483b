"""`ownit report`: the figures as CSV and JSON, per organisation, team and person."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bot import report
from bot.runtime.app import example_org_file
from handlers.cli import main
from tests.conftest import ConsoleBot
from tests.test_figures import END, NOW, START, seed


async def test_csv_and_json_content(bot: ConsoleBot) -> None:
    await seed(bot)
    kw = {"since": START, "until": END, "now": NOW, "default": bot.app.calendar}
    text = await report.export(bot.app.db, fmt="csv", **kw)
    rows = list(csv.DictReader(io.StringIO(text)))
    by_key = {(r["kind"], r["key"]): r for r in rows}
    assert [r["kind"] for r in rows][:4] == ["organisation", "team", "team", "team"]
    billing = by_key[("team", "billing")]
    assert billing["requests_due"] == "6" and billing["on_time_rate"] == "0.5"
    assert billing["answer_median_minutes"] == "195.0" and billing["answer_p90_minutes"] == "540.0"
    assert billing["target_on_time"] == "0.9" and billing["escalations_overdue"] == "1"
    dana = by_key[("person", "dana")]
    assert (dana["answered"], dana["on_time"], dana["requests_due"]) == ("2", "2", "3")
    assert dana["target_on_time"] == ""
    alex = by_key[("person", "alex")]
    assert alex["cases_opened"] == "4" and alex["top_repeat_customers"] == "Acme 3"
    assert alex["csat_average"] == "3.5" and alex["promise_kept_rate"] == "0.5"
    assert ("person", "jo") not in by_key  # no activity, no row

    doc = json.loads(await report.export(bot.app.db, fmt="json", **kw))
    assert doc["since"] == START.isoformat() and doc["until"] == END.isoformat()
    kenji = next(r for r in doc["rows"] if r["key"] == "kenji")
    assert kenji["answer_median_minutes"] == 60.0 and kenji["on_time_rate"] == 1.0

    weekly = await report.rows(bot.app.db, by_week=True, **kw)
    weeks = sorted({r["start"] for r in weekly})
    assert len(weeks) == 7 and weeks[0] == START.isoformat()


def test_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'r.db'}")
    monkeypatch.setenv("OWNIT_ORG_FILE", str(example_org_file()))
    monkeypatch.setenv("OWNIT_CLOCK", "sim")
    assert main(["report", "--since", "2026-10-01", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split(",")
    assert header[:5] == ["kind", "key", "name", "start", "end"]
    assert "on_time_rate" in header and "csat_average" in header
    assert out.splitlines()[1].startswith("organisation,*,everyone,2026-09-30T23:00:00+00:00")
    target = tmp_path / "r.json"
    assert main(["report", "--since", "2026-10-01", "--format", "json", "-o", str(target)]) == 0
    assert [r["key"] for r in json.loads(target.read_text())["rows"]] == [
        "*",
        "billing",
        "engineering",
        "support",
    ]
    assert main(["report", "--since", "yesterday"]) == 2
    assert "give dates like 2026-10-01" in capsys.readouterr().err
