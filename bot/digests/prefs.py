"""When a manager gets digests, and the admin command that changes it."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import time
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.business_time import WEEKDAY_ALIASES
from bot.errors import NotAllowed, Refusal
from bot.figures import execute
from bot.messages import Message, compose, sentence
from storage.tables import Person, Setting

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Prefs:
    """When a manager gets digests; stored as Setting `digest:<person id>` (org-wide: `digest`)."""

    at: time = time(9, 0)
    weekly: int = 0  # Monday
    all_clear: bool = False
    enabled: bool = True

    @classmethod
    def from_dict(cls, d: dict[str, Any], base: Prefs | None = None) -> Prefs:
        p = base or cls()
        if "at" in d:
            hh, mm = (int(x) for x in str(d["at"]).split(":"))
            p = replace(p, at=time(hh, mm))
        if "weekly" in d:
            p = replace(p, weekly=int(d["weekly"]))
        if "all_clear" in d:
            p = replace(p, all_clear=bool(d["all_clear"]))
        if "enabled" in d:
            p = replace(p, enabled=bool(d["enabled"]))
        return p

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": f"{self.at:%H:%M}",
            "weekly": self.weekly,
            "all_clear": self.all_clear,
            "enabled": self.enabled,
        }

    def describe(self) -> str:
        if not self.enabled:
            return sentence("digest_prefs_off")
        return sentence(
            "digest_prefs",
            at=f"{self.at:%H:%M}",
            weekday=_DAYS[self.weekly].capitalize(),
            all_clear=sentence(
                "digest_prefs_on_word" if self.all_clear else "digest_prefs_off_word"
            ),
        )


async def load_prefs(session: AsyncSession) -> tuple[Prefs, dict[int, Prefs]]:
    rows = (
        (await execute(session, select(Setting).where(col(Setting.name).like("digest%"))))
        .scalars()
        .all()
    )
    base = Prefs()
    for row in rows:
        if row.name == "digest":
            base = Prefs.from_dict(row.value)
    own: dict[int, Prefs] = {}
    for row in rows:
        if row.name.startswith("digest:"):
            own[int(row.name.split(":", 1)[1])] = Prefs.from_dict(row.value, base)
    return base, own


async def configure(
    session: AsyncSession, *, actor: Person, who: Person | None, args: list[str]
) -> Message:
    """`/case admin digest [@manager|all] [at HH:MM | weekly <day> | all_clear on|off | on|off]`.

    A manager changes their own; an admin anyone's, or everyone's default with `all`.
    """
    target = who or actor
    org_wide = bool(args[:1] == ["all"])
    if org_wide:
        args = args[1:]
    if (org_wide or target.id != actor.id) and not actor.is_admin:
        raise NotAllowed(sentence("digest_own_only"))
    name = "digest" if org_wide else f"digest:{target.id}"
    row = await session.get(Setting, name)
    base, own = await load_prefs(session)
    current = base if org_wide else own.get(target.id or 0, base)
    if not args:
        return _settings(target, org_wide, current)
    values = dict(row.value) if row else {}
    word = args[0].lower()
    if word == "at" and len(args) == 2 and re.fullmatch(r"\d{1,2}:\d{2}", args[1]):
        hh, mm = (int(x) for x in args[1].split(":"))
        if hh > 23 or mm > 59:
            raise Refusal(sentence("digest_time_format"))
        values["at"] = f"{hh:02d}:{mm:02d}"
    elif word == "weekly" and len(args) == 2 and args[1].lower() in WEEKDAY_ALIASES:
        values["weekly"] = WEEKDAY_ALIASES[args[1].lower()]
    elif word in ("all_clear", "all-clear") and len(args) == 2 and args[1] in ("on", "off"):
        values["all_clear"] = args[1] == "on"
    elif word in ("on", "off") and len(args) == 1:
        values["enabled"] = word == "on"
    else:
        raise Refusal(
            sentence("digest_setting_unreadable"),
            "/case admin digest [@manager|all] at 08:30 | weekly mon | all_clear on|off | on|off",
        )
    if row is None:
        row = Setting(name=name, value=values)
    row.value = values
    session.add(row)
    updated = Prefs.from_dict(values, None if org_wide else base)
    return _settings(target, org_wide, updated)


def _settings(target: Person, org_wide: bool, prefs: Prefs) -> Message:
    who = sentence("digest_settings_everyone") if org_wide else target.name
    return Message(
        "admin", compose("digest_settings", who=who, prefs=prefs.describe()), private=True
    )
