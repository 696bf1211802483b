"""deploy/ownit.service: hardened, and systemd itself parses it and rates its exposure.

`systemd-analyze verify` checks that the unit loads and its command runs; it needs the command
to exist, so the check runs on a copy whose ExecStart names this virtualenv's `ownit` — the same
entry point the unit starts from /opt/ownit.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.deploy import DEPLOY, need_tool

UNIT = DEPLOY / "ownit.service"
INSTALLED = "/opt/ownit/bin/ownit"


def _settings() -> dict[str, list[str]]:
    """The [Service] section: every value of each key, in order (keys may repeat)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service":
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def _testable_copy(tmp_path: Path) -> Path:
    ownit = Path(sys.executable).parent / "ownit"
    assert ownit.exists(), "the ownit entry point is not installed in this virtualenv"
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text("utf-8").replace(INSTALLED, str(ownit)), "utf-8")
    return copy


def test_it_runs_ownit_serve_as_its_own_user_on_a_read_only_system() -> None:
    s = _settings()
    assert s["ExecStart"] == [f"{INSTALLED} serve"]
    assert s["User"] == ["ownit"] or s.get("DynamicUser") == ["true"]
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
        "NoNewPrivileges": "true",
        "PrivateDevices": "true",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "true",
    }
    for key, value in expected.items():
        assert s.get(key) == [value], key
    assert s["StateDirectory"] == ["ownit"]
    assert set(s["ReadWritePaths"][0].split()) == {"/var/lib/ownit", "/var/cache/ownit"}
    assert s["WorkingDirectory"] == ["/var/lib/ownit"]  # a default SQLite file lands there


def test_systemd_loads_the_unit_without_a_complaint(tmp_path: Path) -> None:
    analyze = need_tool("systemd-analyze")
    result = subprocess.run(
        [analyze, "verify", str(_testable_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # An unknown or misspelt setting is only a warning ("Unknown key …, ignoring"): none allowed.
    assert UNIT.name not in result.stderr, result.stderr


def test_systemd_rates_its_exposure_low(tmp_path: Path) -> None:
    analyze = need_tool("systemd-analyze")
    result = subprocess.run(
        [analyze, "security", "--offline=true", str(_testable_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) <= 2.0, result.stdout  # systemd calls up to 2.9 "OK"
