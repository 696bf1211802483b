"""Settings from the environment and `.env`, validated once at start.

A bad value stops the process with a message that names the setting, rather than failing later
in the middle of a conversation. Secrets (tokens, passwords, the passwords inside URLs) are left
out of the settings' repr and of these messages; `Settings.secrets` lists them for redaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.connection import parse_url as parse_redis_url
from sqlalchemy.engine import make_url

from storage.db import DatabaseUrlError, async_url, hide_password

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    pass


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        "sqlite:///ownit.db",
        alias="DATABASE_URL",
        repr=False,
        description="SQLite or PostgreSQL; `postgresql://user@host/db` and "
        "`postgresql+asyncpg://…` both work",
    )
    role: Literal["all", "web", "worker"] = Field(
        "all",
        alias="OWNIT_ROLE",
        description="`web`: only acknowledge; `worker`: only handle, fire steps and deliver "
        "(PostgreSQL; see docs/scale.md)",
    )
    redis_url: str | None = Field(
        None,
        alias="REDIS_URL",
        repr=False,
        description="shared state for several replicas (see docs/scale.md)",
    )
    port: int = Field(3000, alias="PORT", ge=1, le=65535, description="where `ownit serve` listens")
    host: str = Field("0.0.0.0", alias="HOST", description="the address `ownit serve` binds")
    metrics_port: int | None = Field(
        None,
        alias="OWNIT_METRICS_PORT",
        ge=1,
        le=65535,
        description="serve `/metrics` on this port only (keep it off the public listener)",
    )
    timezone: str = Field(
        "UTC",
        alias="OWNIT_TIMEZONE",
        description="the default calendar's zone (people and teams can have their own)",
    )
    clock: Literal["real", "sim"] = Field(
        "real",
        alias="OWNIT_CLOCK",
        description="`sim` keeps a simulated clock in the database (the console's default)",
    )
    org_file: Path = Field(
        Path("ownit.yaml"),
        alias="OWNIT_ORG_FILE",
        description="people, teams, managers, backups, calendars, policy; the shipped example "
        "is used when it is missing",
    )
    log_level: str = Field(
        "INFO",
        alias="OWNIT_LOG_LEVEL",
        description="`DEBUG`, `INFO`, `WARNING` or `ERROR`, for `ownit serve`",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        alias="OWNIT_LOG_FORMAT",
        description="`json` (one object a line), `text`, or `auto`: text on a terminal, "
        "JSON otherwise",
    )
    db_pool: int = Field(
        10,
        alias="OWNIT_DB_POOL",
        ge=1,
        le=200,
        description="PostgreSQL connections for one process's ordinary load; at a peak it opens "
        "as many again and keeps them open; replicas × twice this must stay under the server's "
        "`max_connections`",
    )
    inbox_lease: float = Field(
        15.0,
        alias="OWNIT_INBOX_LEASE",
        gt=0.5,
        le=3600,
        description="seconds what a process acknowledged stays its own if it stops renewing",
    )
    inbox_workers: int = Field(
        8,
        alias="OWNIT_INBOX_WORKERS",
        ge=1,
        le=64,
        description="deliveries one process handles side by side",
    )

    slack_bot_token: str | None = Field(
        None, alias="SLACK_BOT_TOKEN", repr=False, description="the bot token, `xoxb-…`"
    )
    slack_signing_secret: str | None = Field(
        None,
        alias="SLACK_SIGNING_SECRET",
        repr=False,
        description="HTTP mode: verifies `POST /slack/events`",
    )
    slack_app_token: str | None = Field(
        None,
        alias="SLACK_APP_TOKEN",
        repr=False,
        description="Socket Mode: the app-level token, `xapp-…` (no public URL needed)",
    )
    slack_api_url: str | None = Field(
        None,
        alias="SLACK_API_URL",
        description="the Slack Web API base (default `https://slack.com/api/`; tests point it "
        "at a fake)",
    )

    microsoft_app_id: str | None = Field(
        None, alias="MICROSOFT_APP_ID", description="the Azure Bot registration's app id (a GUID)"
    )
    microsoft_app_password: str | None = Field(
        None,
        alias="MICROSOFT_APP_PASSWORD",
        repr=False,
        description="the client secret of that app registration",
    )
    microsoft_app_tenant_id: str | None = Field(
        None, alias="MICROSOFT_APP_TENANT_ID", description="the tenant, for `SingleTenant` bots"
    )
    microsoft_app_type: Literal["MultiTenant", "SingleTenant", "UserAssignedMSI"] = Field(
        "MultiTenant", alias="MICROSOFT_APP_TYPE", description="how the bot is registered in Azure"
    )
    teams_api_url: str | None = Field(
        None,
        alias="TEAMS_API_URL",
        description="the Bot Connector base URL; without an app id it opens `/api/messages` to "
        "loopback callers only (emulator, tests)",
    )

    openai_api_key: str | None = Field(
        None,
        alias="OPENAI_API_KEY",
        repr=False,
        description="turns the AI assist on (customer update drafts, summaries); without it "
        "ownit uses its templates",
    )
    openai_base_url: str | None = Field(
        None,
        alias="OPENAI_BASE_URL",
        description="any OpenAI-compatible server (default `https://api.openai.com/v1`)",
    )
    openai_model: str = Field(
        "gpt-4o-mini",
        alias="OPENAI_MODEL",
        description="the model (with Azure OpenAI: the deployment's name); it must support "
        "structured outputs",
    )
    azure_openai_endpoint: str | None = Field(
        None,
        alias="AZURE_OPENAI_ENDPOINT",
        description="Azure OpenAI instead: `https://<resource>.openai.azure.com`",
    )
    azure_openai_api_key: str | None = Field(
        None,
        alias="AZURE_OPENAI_API_KEY",
        repr=False,
        description="the Azure OpenAI resource's key (or `OPENAI_API_KEY`)",
    )
    openai_api_version: str = Field(
        "2024-10-21",
        alias="OPENAI_API_VERSION",
        description="the Azure OpenAI API version",
    )
    ai_timeout: float = Field(
        5.0,
        alias="OWNIT_AI_TIMEOUT",
        gt=0,
        le=60,
        description="seconds one model call may take before its template is used instead",
    )
    ai_daily_tokens: int = Field(
        200_000,
        alias="OWNIT_AI_DAILY_TOKENS",
        ge=0,
        description="model tokens the organisation may use per day (UTC); when spent, templates "
        "until the next day",
    )
    ai_redact: bool = Field(
        True,
        alias="OWNIT_AI_REDACT",
        description="replace customer names and e-mail addresses by placeholders before a "
        "prompt leaves, and put them back in the answer",
    )

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str) -> str:
        try:
            async_url(v)
        except DatabaseUrlError as exc:
            raise ValueError(str(exc)) from exc
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_redis_url(v)
            except ValueError as exc:
                raise ValueError(
                    f"not a Redis URL ({hide_password(str(exc))}); "
                    "use redis://[:password@]host[:port][/db]"
                ) from None
        return v

    @field_validator("role")
    @classmethod
    def _role(cls, v: str, info: ValidationInfo) -> str:
        url = info.data.get("database_url")
        if v != "all" and url and async_url(url).startswith("sqlite"):
            raise ValueError(
                f"{v!r} needs a PostgreSQL database shared by the web and worker processes "
                "(DATABASE_URL=postgresql://…); on SQLite one process does both (OWNIT_ROLE=all)"
            )
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"unknown log level {v!r} (use one of {', '.join(LOG_LEVELS)})")
        return v.strip().upper()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name like Europe/London)"
            ) from exc
        return v

    @field_validator(
        "redis_url",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "slack_api_url",
        "microsoft_app_id",
        "microsoft_app_password",
        "microsoft_app_tenant_id",
        "teams_api_url",
        "openai_api_key",
        "openai_base_url",
        "azure_openai_endpoint",
        "azure_openai_api_key",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret set: tokens, the app password, and the passwords in the database and
        Redis URLs (as written and decoded), for scrubbing from logs and messages."""
        found = [
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.microsoft_app_password,
            self.openai_api_key,
            self.azure_openai_api_key,
        ]
        try:
            found.append(make_url(self.database_url).password)
        except Exception:  # validated already; a URL SQLAlchemy cannot read has no password
            pass
        if self.redis_url:
            found.append(urlsplit(self.redis_url).password)
        written = {s for s in found if s}
        return tuple(sorted(written | {unquote(s) for s in written} | {quote(s) for s in written}))

    @property
    def has_slack(self) -> bool:
        return bool(self.slack_bot_token and (self.slack_signing_secret or self.slack_app_token))

    @property
    def has_teams(self) -> bool:
        return bool(self.microsoft_app_id)

    @property
    def accepts(self) -> bool:
        """This process answers the platforms' requests (roles `all` and `web`)."""
        return self.role != "worker"

    @property
    def handles(self) -> bool:
        """This process handles the inbox and runs the timers, deliveries, digests and cards
        (roles `all` and `worker`)."""
        return self.role != "web"

    @property
    def has_ai(self) -> bool:
        """A model is configured: an OpenAI key, or an Azure OpenAI endpoint with a key."""
        if self.azure_openai_endpoint:
            return bool(self.azure_openai_api_key or self.openai_api_key)
        return bool(self.openai_api_key)

    @property
    def has_chat(self) -> bool:
        return self.has_slack or self.has_teams


def load_settings(**overrides: object) -> Settings:
    """Read settings; raise ConfigError naming each bad setting by its environment name."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{name}: {err['msg']}")
        # Not chained: the validation error's text repeats each bad value, secrets included.
        raise ConfigError("bad configuration — " + "; ".join(problems)) from None
