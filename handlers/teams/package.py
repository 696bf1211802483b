"""`ownit teams-package`: the Teams app package (manifest.json and two icons in a zip).

A Teams admin uploads the zip (Teams admin center → Manage apps → Upload, or Developer Portal).
The manifest comes from `deploy/teams/manifest.template.json` with the bot id, version, domain and
the command list filled in; the icons are drawn here as PNGs, so no binary lives in the repository.
The domain is the host ownit is served from: the manifest's website, privacy (`/privacy`) and
terms (`/terms`) links point there, and ownit serves those pages itself (handlers/pages.py).
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
import zlib
from importlib import metadata
from pathlib import Path
from typing import Any

from bot.messages import sentence
from bot.runtime.config import ConfigError

ACCENT = (0x1F, 0x6F, 0xEB)
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "teams" / "manifest.template.json"

# What Teams offers as you type to the bot (at most ten per list; title ≤ 32, description ≤ 128).
COMMANDS: tuple[tuple[str, str], ...] = (
    ("case open", "Open a case: case open <customer>: <summary> [promise <when>] [p1-p4]"),
    ("case ask", "Ask a colleague or team: case ask <case> @person <question> [by <when>]"),
    ("case status", "A case, its requests and its timeline: case status <case>"),
    ("case mine", "My open cases, and what is asked of me"),
    ("case promise", "Record the customer promise: case promise <case> <when> [what]"),
    ("case update", "Draft an update for the customer: case update <case>"),
    ("case answer", "Answer a request: case answer <request> <text>"),
    ("case more-time", "Ask for a later deadline: case more-time <request> <when> <reason>"),
    ("case resolve", "Resolve a case: case resolve <case> [note]"),
    ("case help", "Every command, or one: case help [command]"),
)


def _png(size: int, pixel: Any) -> bytes:
    """A truecolour-with-alpha PNG, `pixel(x, y)` giving (r, g, b, a)."""
    raw = bytearray()
    for y in range(size):
        raw.append(0)
        for x in range(size):
            raw.extend(pixel(x, y))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


def _ring(x: int, y: int, size: int) -> tuple[bool, bool]:
    """(on the ring, on the centre dot) of the ownit mark: one owner at the centre of a circle."""
    c = (size - 1) / 2
    d = ((x - c) ** 2 + (y - c) ** 2) ** 0.5
    return (0.30 * size <= d <= 0.40 * size, d <= 0.13 * size)


def color_icon() -> bytes:
    """192×192, full colour: a white ring and dot on the accent colour."""

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        ring, dot = _ring(x, y, 192)
        return (255, 255, 255, 255) if ring or dot else (*ACCENT, 255)

    return _png(192, pixel)


def outline_icon() -> bytes:
    """32×32, white on transparent, as Teams requires for the outline icon."""

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        ring, dot = _ring(x, y, 32)
        return (255, 255, 255, 255) if ring or dot else (0, 0, 0, 0)

    return _png(32, pixel)


def _version() -> str:
    try:
        return metadata.version("ownit")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.1.0"


def check_domain(domain: str | None) -> str:
    """The bare host name of `domain` (a URL's scheme and slashes dropped), or a ConfigError that
    says what to give: the package cannot guess where ownit is served."""
    if not domain or not domain.strip():
        raise ConfigError(sentence("teams_package_no_domain"))
    bare = domain.strip().removeprefix("https://").strip("/")
    if not HOSTNAME.match(bare):
        raise ConfigError(sentence("teams_package_bad_domain", domain=domain))
    return bare


def manifest(
    app_id: str, *, domain: str = "example.com", template: Path | None = None
) -> dict[str, Any]:
    if not GUID.match(app_id or ""):
        raise ConfigError(sentence("teams_package_no_app_id"))
    path = template or TEMPLATE
    if not path.exists():
        raise ConfigError(f"the Teams manifest template {path} does not exist")
    domain = check_domain(domain)
    values = {
        "MICROSOFT_APP_ID": app_id.lower(),
        "VERSION": _version(),
        "DOMAIN": domain,
        "ACCENT": "#{:02X}{:02X}{:02X}".format(*ACCENT),
    }
    body = path.read_text("utf-8")
    for name, value in values.items():
        body = body.replace("${" + name + "}", value)
    if left := re.search(r"\$\{(\w+)\}", body):
        raise ConfigError(f"the Teams manifest template names an unknown value ${{{left[1]}}}")
    data: dict[str, Any] = json.loads(body)
    for bot in data.get("bots") or []:
        bot["commandLists"] = [
            {
                "scopes": list(bot.get("scopes") or ["personal"]),
                "commands": [{"title": t, "description": d} for t, d in COMMANDS],
            }
        ]
    return data


def build(
    out: Path, app_id: str, *, domain: str = "example.com", template: Path | None = None
) -> Path:
    """Write the zip: manifest.json, color.png and outline.png at its root, as Teams expects."""
    data = manifest(app_id, domain=domain, template=template)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        zf.writestr("color.png", color_icon())
        zf.writestr("outline.png", outline_icon())
    return out
