"""`ownit teams-package`: the zip a Teams admin uploads."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from handlers.cli import main

APP_ID = "5a3c2f10-9d1e-4c1b-8f7a-0123456789ab"


def _png_size_and_pixels(data: bytes) -> tuple[int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_the_package_holds_manifest_and_icons(tmp_path: Path) -> None:
    out = tmp_path / "ownit-teams.zip"
    env = {**os.environ, "MICROSOFT_APP_ID": APP_ID}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "handlers.cli",
            "teams-package",
            "-o",
            str(out),
            "--domain",
            "ownit.acme.com",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(zf.read("manifest.json"))
        color = _png_size_and_pixels(zf.read("color.png"))
        outline = _png_size_and_pixels(zf.read("outline.png"))
    assert manifest["id"] == APP_ID
    (bot,) = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert {"personal", "team"} <= set(bot["scopes"])
    titles = [c["title"] for c in bot["commandLists"][0]["commands"]]
    assert "case open" in titles and "case ask" in titles and len(titles) <= 10
    assert all(len(c["description"]) <= 128 for c in bot["commandLists"][0]["commands"])
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert manifest["validDomains"] == ["ownit.acme.com"]
    assert "${" not in json.dumps(manifest)
    assert color[:2] == (192, 192)
    assert outline[:2] == (32, 32)
    # The outline icon is white on transparent: every pixel is white or fully transparent.
    rows = [outline[2][r * (1 + 32 * 4) + 1 : (r + 1) * (1 + 32 * 4)] for r in range(32)]
    pixels = [row[i : i + 4] for row in rows for i in range(0, len(row), 4)]
    assert {bytes(p) for p in pixels} <= {b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"}
    assert b"\x00\x00\x00\x00" in {bytes(p) for p in pixels}


def test_the_package_needs_the_app_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MICROSOFT_APP_ID", raising=False)
    assert main(["teams-package", "-o", str(tmp_path / "x.zip")]) == 2
    assert "MICROSOFT_APP_ID" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()


def test_the_package_needs_a_real_domain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the id set, no domain is a message (not a silent example.com), and a domain with a
    quote in it is refused in words, not with a traceback."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    out = tmp_path / "x.zip"
    assert main(["teams-package", "-o", str(out)]) == 2
    assert "--domain" in capsys.readouterr().err
    for bad in ['ownit".acme.com', "ownit.acme.com/path", "no spaces.com"]:
        assert main(["teams-package", "-o", str(out), "--domain", bad]) == 2
        err = capsys.readouterr().err
        assert "not a host name" in err and "Traceback" not in err
    assert not out.exists()


async def test_the_privacy_and_terms_links_are_served(sqlite_url: str) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.runtime.app import Ownit
    from bot.runtime.config import load_settings
    from handlers.teams.package import manifest
    from handlers.web import make_web_app

    links = manifest(APP_ID, domain="ownit.acme.com")["developer"]
    app = await Ownit.start(load_settings(DATABASE_URL=sqlite_url))
    client = TestClient(TestServer(await make_web_app(app)))
    await client.start_server()
    try:
        for key in ("privacyUrl", "termsOfUseUrl", "websiteUrl"):
            assert links[key].startswith("https://ownit.acme.com/")
        for key in ("privacyUrl", "termsOfUseUrl"):
            page = await client.get(links[key].removeprefix("https://ownit.acme.com"))
            assert page.status == 200 and page.content_type == "text/html"
            assert "<h1>ownit: " in await page.text()
    finally:
        await client.close()
        await app.close()
