"""Checks of the deployment artefacts in deploy/ (Docker, compose, Helm, systemd).

The checkers come with the `dev` extra (hadolint, check-jsonschema, kubernetes-validate, Helm's
own template engine) or with the system (systemd-analyze). A missing one skips its test with the
reason, except under CI=true, where it fails: CI must not pass by checking nothing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CI = os.environ.get("CI", "").lower() == "true"


def _missing(what: str) -> None:
    if CI:
        pytest.fail(f"{what} (required under CI=true)")
    pytest.skip(what)


def need_tool(name: str) -> str:
    """The path of a command: the virtualenv's own first (pip-installed checkers), then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        _missing(f"{name} is not installed")
    assert found is not None
    return found


def need_module(name: str) -> None:
    if importlib.util.find_spec(name) is None:
        _missing(f"the Python package {name} is not installed")
