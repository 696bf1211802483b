"""deploy/Dockerfile: hadolint's rules, and the image runs the package the tests test.

No Docker engine runs here (only the client), so the image is not built in the suite; instead
the wheel is built from pyproject.toml the way the Dockerfile's first stage builds it, and the
installed wheel — not the source tree — must play the demo to the character.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.deploy import DEPLOY, REPO, need_tool

DOCKERFILE = DEPLOY / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text("utf-8"))
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))


def test_hadolint_finds_nothing() -> None:
    hadolint = need_tool("hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_two_stages_on_python_slim_and_a_non_root_user() -> None:
    rows = _instructions()
    froms = [args for word, args in rows if word == "FROM"]
    assert froms == ["python:3.11-slim AS build", "python:3.11-slim"]
    users = [args for word, args in rows if word == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in ("0", "root")
    final = rows[[i for i, (word, _) in enumerate(rows) if word == "FROM"][-1] :]
    assert ("COPY", "--from=build /opt/ownit /opt/ownit") in final  # only the virtualenv


def test_the_command_is_ownit_serve_with_a_healthcheck_on_healthz() -> None:
    rows = dict(_instructions())
    assert json.loads(rows["ENTRYPOINT"]) == ["ownit"]
    assert json.loads(rows["CMD"]) == ["serve"]
    assert "/healthz" in rows["HEALTHCHECK"]
    assert _pyproject()["project"]["scripts"] == {"ownit": "handlers.cli:main"}


def test_the_build_stage_copies_exactly_what_the_wheel_is_made_of() -> None:
    """Every package pyproject.toml puts in the wheel is copied (and let through .dockerignore),
    plus pyproject.toml and the README it names; a new top-level package breaks this test."""
    project = _pyproject()
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    needed = {*packages, "pyproject.toml", project["project"]["readme"]}
    copied = set()
    for word, args in _instructions():
        if word == "COPY" and not args.startswith("--from"):
            copied.update(Path(src).name for src in args.split()[:-1])
    assert copied == needed
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (REPO / ".dockerignore").read_text("utf-8").splitlines()
        if line.startswith("!")
    }
    assert allowed == needed


@pytest.mark.slow
def test_the_wheel_the_image_installs_plays_the_demo(tmp_path: Path) -> None:
    """Built from a copy of just what the Dockerfile copies (no stale build/ of the work tree)."""
    src = tmp_path / "src"
    src.mkdir()
    for word, args in _instructions():
        if word == "COPY" and not args.startswith("--from"):
            for name in args.split()[:-1]:
                if (REPO / name).is_dir():
                    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                    shutil.copytree(REPO / name, src / name, ignore=ignore)
                else:
                    shutil.copy2(REPO / name, src / name)
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("ownit-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n) for n in names if n.endswith("entry_points.txt"))
    assert "ownit = handlers.cli:main" in entry_points.decode()
    for data in ("bot/org.example.yaml", "storage/migrations/script.py.mako"):
        assert data in names
    for source in (REPO / "prompts").glob("*.yaml"):
        assert f"prompts/{source.name}" in names

    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), wheel],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_"))}
    env["PYTHONPATH"] = str(site)  # ahead of the editable install of the source tree
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, handlers; assert handlers.__file__.startswith(sys.argv[1]), "
            "handlers.__file__; from handlers.cli import main; sys.argv[1:] = ['demo']; main()",
            str(site),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    golden = (REPO / "tests" / "golden" / "demo.txt").read_text("utf-8")
    assert run.stdout == golden
