"""`ownit settings`: every setting with its default and meaning, read from the settings class.

The README's "Configure" table is this output (`ownit settings --markdown`), and a test compares
the two, so a setting added to `Settings` cannot go undocumented.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.runtime.config import Settings


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, Path):
        return f"`{value}`"
    return f"`{value}`"


def rows() -> list[tuple[str, str, str]]:
    """(environment name, default, meaning) for each setting, in the class's order."""
    found = []
    for name, field in Settings.model_fields.items():
        found.append(
            (field.alias or name.upper(), _default(field.default), field.description or "")
        )
    return found


def markdown() -> str:
    lines = ["| setting | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {default} | {meaning} |" for name, default, meaning in rows()]
    return "\n".join(lines) + "\n"


def plain() -> str:
    return "".join(
        f"{name}  (default {default.strip('`')})  {meaning}\n" for name, default, meaning in rows()
    )
