"""What ownit says, free of any platform's markup.

A message is a sequence of segments: plain strings (always escaped by the renderer, so text a
user typed can never ping a channel or forge a mention), mentions of people, emphasis and code.
Each platform's renderer turns the segments into its own markup. Wording lives in
`prompts/*.yaml`, not in code.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class Mention:
    handle: str
    name: str
    slack_id: str | None = None
    teams_id: str | None = None


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


Segment = str | Mention | Strong | Code

ACTIONS = (
    "ack",
    "answer",
    "more_time",
    "redirect",
    "accept",
    "decline",
    "shorten",
    "rate",
    "update",
    "promise",
)


@dataclass(frozen=True)
class Action:
    """A button: `name` from ACTIONS, acting on the request or case `key`."""

    name: str
    key: str
    label: str
    value: str = ""


@dataclass(frozen=True)
class Message:
    kind: str
    segments: tuple[Segment, ...]
    case: str | None = None
    request: str | None = None
    actions: tuple[Action, ...] = ()
    private: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def plain(self) -> str:
        """The message as plain text with names for mentions (console, logs, tests)."""
        return "".join(plain(s) for s in self.segments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "segments": [_seg_to_dict(s) for s in self.segments],
            "case": self.case,
            "request": self.request,
            "actions": [a.__dict__ for a in self.actions],
            "private": self.private,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        return cls(
            kind=d["kind"],
            segments=tuple(_seg_from_dict(s) for s in d["segments"]),
            case=d.get("case"),
            request=d.get("request"),
            actions=tuple(Action(**a) for a in d.get("actions", [])),
            private=bool(d.get("private")),
            extra=dict(d.get("extra") or {}),
        )


def plain(seg: Segment) -> str:
    if isinstance(seg, str):
        return seg
    if isinstance(seg, Mention):
        return f"@{seg.handle}"
    return seg.text


def _seg_to_dict(s: Segment) -> Any:
    if isinstance(s, str):
        return s
    if isinstance(s, Mention):
        return {"mention": s.__dict__}
    if isinstance(s, Strong):
        return {"strong": s.text}
    return {"code": s.text}


def _seg_from_dict(d: Any) -> Segment:
    if isinstance(d, str):
        return d
    if "mention" in d:
        return Mention(**d["mention"])
    if "strong" in d:
        return Strong(d["strong"])
    return Code(d["code"])


YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""yaml.safe_load's loader, in C where PyYAML was built with libyaml: the wordings load in a
twentieth of the time, and every process loads them (each `ownit` command, each replica)."""


@cache
def templates() -> dict[str, str]:
    """Every wording in `prompts/*.yaml`, by name; a name defined twice is a mistake."""
    found: dict[str, str] = {}
    for entry in sorted(resources.files("prompts").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        for k, v in (yaml.load(entry.read_text("utf-8"), Loader=YAML_LOADER) or {}).items():
            if k in found:
                raise ValueError(f"prompts/{entry.name}: {k!r} is defined twice")
            found[str(k)] = str(v).rstrip("\n")
    return found


@cache
def _parts(kind: str) -> tuple[tuple[str, str | None], ...]:
    """The template `kind` read once: its literal text and the field after each."""
    return tuple(
        (literal, name)
        for literal, name, _spec, _conv in string.Formatter().parse(templates()[kind])
    )


def compose(kind: str, **fields: Segment | int | float | None) -> tuple[Segment, ...]:
    """Fill the template `kind`; field values stay separate segments so they are escaped."""
    out: list[Segment] = []
    for literal, name in _parts(kind):
        if literal:
            out.append(literal)
        if name is None:
            continue
        if name not in fields:
            raise KeyError(f"template {kind!r} needs field {name!r}")
        value = fields[name]
        if value is None:
            continue
        out.append(value if isinstance(value, Mention | Strong | Code) else str(value))
    return tuple(_merge(out))


def sentence(kind: str, /, **fields: Segment | int | float | None) -> str:
    """The template `kind` filled as plain text: for refusals, usage lines and other strings
    that travel as text rather than as messages of their own."""
    if not fields:
        return _fixed(kind)
    return "".join(plain(s) for s in compose(kind, **fields))


@cache
def _fixed(kind: str) -> str:
    """A template without fields (a button's label), filled once."""
    return "".join(plain(s) for s in compose(kind))


def _merge(segs: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for s in segs:
        if isinstance(s, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + s
        elif s != "":
            merged.append(s)
    return merged


def message(
    kind: str,
    *,
    case: str | None = None,
    request: str | None = None,
    actions: tuple[Action, ...] = (),
    private: bool = False,
    extra: dict[str, Any] | None = None,
    **fields: Segment | int | float | None,
) -> Message:
    return Message(
        kind,
        compose(kind, **fields),
        case=case,
        request=request,
        actions=actions,
        private=private,
        extra=extra or {},
    )


def join(*parts: tuple[Segment, ...] | Segment, sep: str = "") -> tuple[Segment, ...]:
    out: list[Segment] = []
    for i, p in enumerate(parts):
        if i and sep:
            out.append(sep)
        if isinstance(p, tuple):
            out.extend(p)
        else:
            out.append(p)
    return tuple(_merge(out))
