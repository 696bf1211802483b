"""`ownit doctor`: check a configuration before going live, each failure with its fix.

It only reads: the database is asked for its migration revision, not migrated; Slack is asked
`auth.test`; Redis is pinged; the model, when a key is set, is asked for one token. Every check
runs even when an earlier one failed, so one run lists everything to fix, and the exit status is
non-zero when anything failed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text as sql

from bot.assist.model import make_client
from bot.messages import sentence
from bot.runtime.app import model_config
from bot.runtime.config import Settings
from handlers.redaction import Redactor
from handlers.slack.web_api import DEFAULT_API
from storage.db import Database, hide_password
from storage.migrate import alembic_config

TIMEOUT = 10.0
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Finding:
    """One check's outcome: `what` it concerns, the line to show, and the fix when it failed."""

    what: str
    ok: bool
    detail: str
    fix: str = ""


def passed(what: str, key: str, **fields: Any) -> Finding:
    return Finding(what, True, sentence(key, **fields))


def failed(what: str, key: str, fix: str, **fields: Any) -> Finding:
    return Finding(what, False, sentence(key, **fields), sentence(fix, **fields))


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(connection: Any) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def check_database(settings: Settings) -> list[Finding]:
    where = hide_password(settings.database_url)
    db = Database(settings.database_url)
    try:
        async with asyncio.timeout(TIMEOUT), db.engine.connect() as conn:
            await conn.execute(sql("SELECT 1"))
            current = await conn.run_sync(_current)
    except Exception as exc:
        why = hide_password(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return [
            failed(
                "database", "doctor_db_unreachable", "doctor_db_unreachable_fix", url=where, why=why
            )
        ]
    finally:
        await db.dispose()
    found = [passed("database", "doctor_db_ok", url=where)]
    head = _head()
    if current != head:
        found.append(
            failed(
                "migrations",
                "doctor_db_unmigrated",
                "doctor_db_unmigrated_fix",
                current=current or "none",
                head=head,
            )
        )
    else:
        found.append(passed("migrations", "doctor_db_migrated", head=head))
    return found


async def check_redis(settings: Settings) -> list[Finding]:
    if not settings.redis_url:
        return [passed("redis", "doctor_redis_unset")]
    from redis.asyncio import Redis

    where = hide_password(settings.redis_url)
    client = Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        async with asyncio.timeout(TIMEOUT):
            await client.ping()
    except Exception as exc:
        why = hide_password(str(exc) or type(exc).__name__)
        return [failed("redis", "doctor_redis_down", "doctor_redis_down_fix", url=where, why=why)]
    finally:
        await client.aclose()
    return [passed("redis", "doctor_redis_ok", url=where)]


async def check_slack(settings: Settings) -> list[Finding]:
    s = settings
    if not (s.slack_bot_token or s.slack_signing_secret or s.slack_app_token):
        return [passed("slack", "doctor_slack_unset")]
    if not s.slack_bot_token:
        return [failed("slack", "doctor_slack_no_token", "doctor_slack_no_token_fix")]
    found: list[Finding] = []
    if not (s.slack_signing_secret or s.slack_app_token):
        found.append(failed("slack", "doctor_slack_no_mode", "doctor_slack_no_mode_fix"))
    if s.slack_app_token and not s.slack_app_token.startswith("xapp-"):
        found.append(failed("slack", "doctor_slack_app_token", "doctor_slack_app_token_fix"))
    from slack_sdk.web.async_client import AsyncWebClient

    api = s.slack_api_url or DEFAULT_API
    client = AsyncWebClient(token=s.slack_bot_token, base_url=api, timeout=int(TIMEOUT))
    try:
        answer = await client.auth_test()
        found.append(
            passed("slack", "doctor_slack_ok", team=answer.get("team"), user=answer.get("user"))
        )
    except Exception as exc:
        error = getattr(getattr(exc, "response", None), "data", None)
        why = error.get("error") if isinstance(error, dict) else (str(exc) or type(exc).__name__)
        found.append(
            failed("slack", "doctor_slack_refused", "doctor_slack_refused_fix", api=api, why=why)
        )
    return found


async def check_teams(settings: Settings) -> list[Finding]:
    s = settings
    if not (s.microsoft_app_id or s.microsoft_app_password or s.microsoft_app_tenant_id):
        return [passed("teams", "doctor_teams_unset")]
    found: list[Finding] = []
    if not s.microsoft_app_id:
        found.append(failed("teams", "doctor_teams_no_id", "doctor_teams_no_id_fix"))
    elif not GUID.match(s.microsoft_app_id):
        found.append(failed("teams", "doctor_teams_bad_id", "doctor_teams_bad_id_fix"))
    if not s.microsoft_app_password and s.microsoft_app_type != "UserAssignedMSI":
        found.append(failed("teams", "doctor_teams_no_password", "doctor_teams_no_password_fix"))
    if s.microsoft_app_type == "SingleTenant" and not s.microsoft_app_tenant_id:
        found.append(failed("teams", "doctor_teams_no_tenant", "doctor_teams_no_tenant_fix"))
    if not found:
        found.append(passed("teams", "doctor_teams_ok", app_id=s.microsoft_app_id))
    return found


async def check_model(settings: Settings) -> list[Finding]:
    """A one-token call to the configured model, when a key is set."""
    if not settings.has_ai:
        return [passed("model", "doctor_model_unset")]
    config = model_config(settings)
    client = make_client(config)
    where = str(client.base_url).rstrip("/")
    try:
        async with asyncio.timeout(TIMEOUT):
            await client.chat.completions.create(
                model=config.model,
                messages=[{"role": "user", "content": "Say OK."}],
                max_tokens=1,
            )
    except Exception as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [
            failed(
                "model",
                "doctor_model_failed",
                "doctor_model_failed_fix",
                model=config.model,
                url=where,
                why=why,
            )
        ]
    finally:
        await client.close()
    return [passed("model", "doctor_model_ok", model=config.model, url=where)]


CHECKS: tuple[Callable[[Settings], Awaitable[list[Finding]]], ...] = (
    check_database,
    check_redis,
    check_slack,
    check_teams,
    check_model,
)


async def examine(settings: Settings) -> list[Finding]:
    found: list[Finding] = []
    for check in CHECKS:
        found.extend(await check(settings))
    return found


async def doctor(settings: Settings, out: Callable[[str], None], redact: Redactor) -> int:
    """Print each finding; 0 when all passed, 1 otherwise."""
    findings = await examine(settings)
    for f in findings:
        line = sentence(
            "doctor_line_ok" if f.ok else "doctor_line_failed", what=f.what, detail=f.detail
        )
        out(redact(line))
        if f.fix:
            out(redact(sentence("doctor_fix", fix=f.fix)))
    bad = sum(not f.ok for f in findings)
    out(sentence("doctor_summary_ok") if not bad else sentence("doctor_summary_failed", count=bad))
    return 1 if bad else 0
