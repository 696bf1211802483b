"""The model's prompts, read from `prompts/assist/<name>.yaml`, filled with named variables.

Each file holds the system text, the user template and the list of its variables; the ones in
`data` carry text that customers and colleagues wrote. Those go in JSON-encoded (with `<` and `>`
escaped, so nothing inside can close the fence) between the template's data markers, and each
system text says that what is fenced is data, never instructions.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


class PromptError(KeyError):
    """A prompt filled with the wrong variables: a mistake in code, not in the model."""


@dataclass(frozen=True)
class Prompt:
    name: str
    system: str
    user: str
    variables: tuple[str, ...]
    data: tuple[str, ...]

    def fields(self) -> set[str]:
        """The names the templates use."""
        found = set()
        for text in (self.system, self.user):
            found |= {name for _, name, _, _ in string.Formatter().parse(text) if name}
        return found


def fence(value: Any) -> str:
    """People's text as inert JSON: no marker can be closed from inside it."""
    text = json.dumps(value, ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


@cache
def prompt(name: str) -> Prompt:
    raw = yaml.safe_load(
        resources.files("prompts").joinpath("assist", f"{name}.yaml").read_text("utf-8")
    )
    return Prompt(
        name=name,
        system=str(raw["system"]).strip(),
        user=str(raw["user"]).strip(),
        variables=tuple(raw.get("variables") or ()),
        data=tuple(raw.get("data") or ()),
    )


def names() -> list[str]:
    """Every prompt there is."""
    folder = resources.files("prompts").joinpath("assist")
    return sorted(
        e.name.removesuffix(".yaml") for e in folder.iterdir() if e.name.endswith(".yaml")
    )


def render(name: str, variables: dict[str, Any]) -> tuple[str, str]:
    """(system, user) with every variable filled; a missing or unknown variable is refused."""
    p = prompt(name)
    given, declared = set(variables), set(p.variables)
    if given != declared:
        missing, unknown = sorted(declared - given), sorted(given - declared)
        raise PromptError(f"prompt {name!r}: missing {missing}, unknown {unknown}")
    if p.fields() != declared:
        raise PromptError(f"prompt {name!r} uses {sorted(p.fields())}, declares {sorted(declared)}")
    filled = {k: fence(v) if k in p.data else str(v) for k, v in variables.items()}
    return p.system.format_map(filled), p.user.format_map(filled)
