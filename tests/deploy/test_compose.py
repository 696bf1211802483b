"""deploy/docker-compose.yml: valid by the Compose specification, and one `up` makes a server.

The schema check is check-jsonschema's vendored compose-spec schema; the rest reads the file for
what `docker compose up` relies on (no engine runs here to do it for real).
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml

from bot.runtime.config import Settings, load_settings
from tests.deploy import DEPLOY, REPO, need_tool

COMPOSE = DEPLOY / "docker-compose.yml"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text("utf-8"))
    return data


def _interpolate(value: str) -> str:
    """Compose's `${NAME:-default}` with nothing set: the defaults."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_the_file_validates_against_the_compose_specification() -> None:
    checker = need_tool("check-jsonschema")
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ownit_postgres_and_redis_each_with_a_health_check() -> None:
    services = _compose()["services"]
    assert set(services) == {"ownit", "postgres", "redis"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]
    assert "/readyz" in str(services["ownit"]["healthcheck"]["test"])


def test_ownit_is_built_from_the_dockerfile_and_waits_for_healthy_services() -> None:
    ownit = _compose()["services"]["ownit"]
    assert (COMPOSE.parent / ownit["build"]["context"]).resolve() == REPO
    assert (REPO / ownit["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert ownit["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert ownit["ports"] == ["${OWNIT_PORT:-3000}:3000"]
    assert ownit.get("command") is None  # the image's own: ownit serve


def test_its_settings_are_ones_ownit_accepts_and_point_at_the_services() -> None:
    compose = _compose()
    env = {k: _interpolate(v) for k, v in compose["services"]["ownit"]["environment"].items()}
    aliases = {field.alias for field in Settings.model_fields.values()}
    assert set(env) <= aliases
    settings = load_settings(**env)
    assert "@postgres:5432/ownit" in settings.database_url
    assert settings.redis_url == "redis://redis:6379/0"
    db = compose["services"]["postgres"]["environment"]
    assert settings.database_url == (
        f"postgresql://{db['POSTGRES_USER']}:{_interpolate(db['POSTGRES_PASSWORD'])}"
        f"@postgres:5432/{db['POSTGRES_DB']}"
    )
    # No OWNIT_ORG_FILE: the shipped example organisation serves, as in the console.
    assert "OWNIT_ORG_FILE" not in env
