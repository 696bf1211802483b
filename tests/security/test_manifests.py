"""Both app manifests validate against the platforms' schemas (kept in `schemas/`, see README).

A manifest the platform would refuse should fail here, not in an admin's upload. For Teams the
manifest checked is the one ownit builds (`ownit teams-package`), not only the template.
"""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jsonschema.protocols import Validator

from handlers.cli import main
from handlers.slack.payloads import SHORTCUT
from handlers.teams.package import TEMPLATE, manifest

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "schemas"
SLACK_MANIFEST = ROOT / "deploy" / "slack" / "manifest.yaml"
APP_ID = "5a3c2f10-9d1e-4c1b-8f7a-0123456789ab"


def _errors(validator: Validator, document: Any) -> list[str]:
    found = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in found]


# ------------------------------------------------------------------------------------- Teams


def _teams_version() -> str:
    return str(json.loads(TEMPLATE.read_text("utf-8"))["manifestVersion"])


def _teams_validator() -> Validator:
    """Draft 4, as the schema says, plus `const` (it pins `manifestVersion` with it, and
    Microsoft's own validator, Ajv, honours it), and URI formats checked."""
    path = SCHEMAS / "teams" / f"v{_teams_version()}" / "MicrosoftTeams.schema.json"
    schema = json.loads(path.read_text("utf-8"))
    draft4 = jsonschema.Draft4Validator
    draft4.check_schema(schema)
    cls = jsonschema.validators.extend(
        draft4, {"const": jsonschema.Draft6Validator.VALIDATORS["const"]}
    )
    return cls(schema, format_checker=draft4.FORMAT_CHECKER)


def test_the_template_names_the_schema_kept_here() -> None:
    template = json.loads(TEMPLATE.read_text("utf-8"))
    version = template["manifestVersion"]
    assert (SCHEMAS / "teams" / f"v{version}" / "MicrosoftTeams.schema.json").exists()
    assert template["$schema"] == (
        "https://developer.microsoft.com/en-us/json-schemas/teams/"
        f"v{version}/MicrosoftTeams.schema.json"
    )
    assert (SCHEMAS / "teams" / "LICENSE").exists()
    assert tuple(int(n) for n in version.split(".")) >= (1, 17)


@pytest.mark.parametrize("domain", ["example.com", "ownit.acme.com", "https://ownit.acme.com/"])
def test_the_teams_manifest_ownit_builds_is_valid(domain: str) -> None:
    assert _errors(_teams_validator(), manifest(APP_ID, domain=domain)) == []


def test_the_teams_package_on_disk_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest.json inside the zip that `ownit teams-package` writes."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'ownit.db'}")
    out = tmp_path / "ownit-teams.zip"
    assert main(["teams-package", "-o", str(out), "--domain", "ownit.acme.com"]) == 0
    with zipfile.ZipFile(out) as zf:
        built = json.loads(zf.read("manifest.json"))
    assert _errors(_teams_validator(), built) == []


def test_the_teams_schema_refuses_what_teams_would() -> None:
    """The check has teeth: a name too long, a wrong version, a command title over 32."""
    good = manifest(APP_ID)
    validator = _teams_validator()
    bad = copy.deepcopy(good)
    bad["name"]["short"] = "x" * 31
    assert any(e.startswith("name/short") for e in _errors(validator, bad))
    bad = copy.deepcopy(good)
    bad["manifestVersion"] = "1.16"
    assert any(e.startswith("manifestVersion") for e in _errors(validator, bad))
    bad = copy.deepcopy(good)
    bad["bots"][0]["commandLists"][0]["commands"][0]["title"] = "t" * 33
    assert _errors(validator, bad)


# ------------------------------------------------------------------------------------- Slack


def _slack_validator() -> Validator:
    schema = json.loads((SCHEMAS / "slack-manifest.subset.schema.json").read_text("utf-8"))
    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _slack_manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SLACK_MANIFEST.read_text("utf-8"))
    return data


def test_the_slack_manifest_is_valid() -> None:
    assert _errors(_slack_validator(), _slack_manifest()) == []


def test_the_slack_shortcut_is_the_one_the_app_listens_for() -> None:
    (shortcut,) = _slack_manifest()["features"]["shortcuts"]
    assert shortcut["callback_id"] == SHORTCUT
    assert shortcut["type"] == "message"


def test_the_slack_schema_refuses_what_slack_would() -> None:
    """The check has teeth: the shortcut name this manifest used to carry (29 characters) and
    the other documented limits fail."""
    validator = _slack_validator()
    cases: list[tuple[str, Any, str]] = [
        ("features/shortcuts/0/name", "Open a case from this message", "features/shortcuts/0/name"),
        ("features/shortcuts/0/description", "d" * 151, "features/shortcuts/0/description"),
        ("features/slash_commands/0/command", "case", "features/slash_commands/0/command"),
        ("features/slash_commands/0/command", "/" + "c" * 32, "features/slash_commands/0/command"),
        ("features/slash_commands/0/usage_hint", "u" * 1001, "features/slash_commands/0/usage"),
        ("display_information/name", "n" * 36, "display_information/name"),
        ("display_information/description", "d" * 141, "display_information/description"),
        ("display_information/long_description", "too short", "display_information/long"),
        ("features/bot_user/display_name", "b" * 81, "features/bot_user/display_name"),
        ("settings/interactivity/request_url", "http://x.example/e", "settings/interactivity"),
    ]
    for where, value, expected in cases:
        bad = _slack_manifest()
        *parents, last = where.split("/")
        node: Any = bad
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
        assert any(e.startswith(expected) for e in _errors(validator, bad)), where
