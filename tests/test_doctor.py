"""`ownit doctor`: each failure found, with its fix, against the fake Slack and the real servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.runtime.config import Settings, load_settings
from handlers.cli import main
from handlers.cli.doctor import Finding, examine
from storage.db import Database
from storage.migrate import migrate
from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack_api import FakeSlack

APP_ID = "5a3c2f10-9d1e-4c1b-8f7a-0123456789ab"
UNSET = {
    "REDIS_URL": "",
    "SLACK_BOT_TOKEN": "",
    "SLACK_SIGNING_SECRET": "",
    "SLACK_APP_TOKEN": "",
    "SLACK_API_URL": "",
    "MICROSOFT_APP_ID": "",
    "MICROSOFT_APP_PASSWORD": "",
    "MICROSOFT_APP_TENANT_ID": "",
    "OPENAI_API_KEY": "",
    "OPENAI_BASE_URL": "",
    "AZURE_OPENAI_ENDPOINT": "",
    "AZURE_OPENAI_API_KEY": "",
}


def settings(**given: Any) -> Settings:
    return load_settings(**{**UNSET, **given})


async def migrated(url: str) -> str:
    db = Database(url)
    await migrate(db)
    await db.dispose()
    return url


def failures(found: list[Finding]) -> dict[str, Finding]:
    return {f.what: f for f in found if not f.ok}


async def test_a_good_configuration_passes(pg_url: str, redis_url: str, fake: FakeSlack) -> None:
    s = settings(
        DATABASE_URL=await migrated(pg_url),
        REDIS_URL=redis_url,
        MICROSOFT_APP_ID=APP_ID,
        MICROSOFT_APP_PASSWORD="a-client-secret",
        **fake.env(),
    )
    found = await examine(s)
    assert failures(found) == {}
    assert {f.what for f in found} == {
        "database",
        "migrations",
        "redis",
        "slack",
        "teams",
        "model",
    }
    assert any("auth.test" == c.method for c in fake.calls)


async def test_a_bad_slack_token(sqlite_url: str, fake: FakeSlack) -> None:
    fake.fail("auth.test", times=1, error="invalid_auth")
    found = failures(await examine(settings(DATABASE_URL=await migrated(sqlite_url), **fake.env())))
    assert list(found) == ["slack"]
    assert "invalid_auth" in found["slack"].detail
    assert "SLACK_BOT_TOKEN" in found["slack"].fix


async def test_slack_without_a_way_in(sqlite_url: str, fake: FakeSlack) -> None:
    env = {**fake.env(), "SLACK_SIGNING_SECRET": ""}
    found = failures(await examine(settings(DATABASE_URL=await migrated(sqlite_url), **env)))
    assert "SLACK_APP_TOKEN" in found["slack"].fix


async def test_the_model_answers(sqlite_url: str, fake_openai: FakeOpenAI) -> None:
    s = settings(DATABASE_URL=await migrated(sqlite_url), **fake_openai.env())
    found = await examine(s)
    assert failures(found) == {}
    model = next(f for f in found if f.what == "model")
    assert "gpt-4o-mini answered" in model.detail
    assert fake_openai.requests[0].body["model"] == "gpt-4o-mini"


async def test_a_model_that_does_not_answer(sqlite_url: str) -> None:
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}
    found = failures(await examine(settings(DATABASE_URL=await migrated(sqlite_url), **env)))
    assert list(found) == ["model"]
    assert "127.0.0.1:1" in found["model"].detail
    assert "OPENAI_BASE_URL" in found["model"].fix


async def test_without_a_key_the_model_is_not_asked(sqlite_url: str) -> None:
    found = await examine(settings(DATABASE_URL=await migrated(sqlite_url)))
    model = next(f for f in found if f.what == "model")
    assert model.ok and "templates" in model.detail


async def test_an_unreachable_database() -> None:
    found = failures(await examine(settings(DATABASE_URL="postgresql://ownit@127.0.0.1:1/ownit")))
    assert list(found) == ["database"]
    assert "127.0.0.1:1" in found["database"].detail
    assert "DATABASE_URL" in found["database"].fix


async def test_an_unmigrated_database(pg_empty_url: str) -> None:
    found = failures(await examine(settings(DATABASE_URL=pg_empty_url)))
    assert list(found) == ["migrations"]
    assert "none" in found["migrations"].detail
    assert "ownit migrate" in found["migrations"].fix


async def test_redis_down(sqlite_url: str) -> None:
    s = settings(DATABASE_URL=await migrated(sqlite_url), REDIS_URL="redis://127.0.0.1:1/0")
    found = failures(await examine(s))
    assert list(found) == ["redis"]
    assert "REDIS_URL" in found["redis"].fix


@pytest.mark.parametrize(
    ("given", "names"),
    [
        ({"MICROSOFT_APP_ID": APP_ID}, "MICROSOFT_APP_PASSWORD"),
        ({"MICROSOFT_APP_PASSWORD": "a-client-secret"}, "MICROSOFT_APP_ID"),
        ({"MICROSOFT_APP_ID": "ownit-bot", "MICROSOFT_APP_PASSWORD": "secret"}, "GUID"),
        (
            {
                "MICROSOFT_APP_ID": APP_ID,
                "MICROSOFT_APP_PASSWORD": "a-client-secret",
                "MICROSOFT_APP_TYPE": "SingleTenant",
            },
            "MICROSOFT_APP_TENANT_ID",
        ),
    ],
)
async def test_teams_half_configured(sqlite_url: str, given: dict[str, str], names: str) -> None:
    found = failures(await examine(settings(DATABASE_URL=await migrated(sqlite_url), **given)))
    assert list(found) == ["teams"]
    assert names in found["teams"].detail + found["teams"].fix


def test_the_command_exits_non_zero_and_prints_the_fixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'd.db'}")
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  migrations" in out and "FAIL  teams" in out and "fix: run `ownit migrate`" in out
    assert main(["migrate"]) == 0
    monkeypatch.setenv("MICROSOFT_APP_PASSWORD", "a-client-secret")
    capsys.readouterr()
    assert main(["doctor"]) == 0
    assert "All checks passed." in capsys.readouterr().out
