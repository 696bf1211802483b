"""`/case admin …` read into the typed commands of `bot.admin.commands`.

The admin package carries them out without reading a word of text itself; every admin error
here quotes the whole admin usage, as the admins' one reference card.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.admin.commands import (
    AddPerson,
    AddTeam,
    AdminCommand,
    CalendarField,
    ChangePolicy,
    ConfigureDigest,
    Link,
    SetAdmin,
    SetBackup,
    SetCalendar,
    SetDefaultDeadline,
    SetManager,
    SetMember,
    SetTarget,
    ShowPolicy,
)
from bot.commands.usage import admin_usage
from bot.commands.words import Args, parse_ref
from bot.directory import Ref
from storage.states import Platform

_DIGEST_WORDS = ("all", "at", "weekly", "all_clear", "all-clear", "on", "off")
_ADD_REMOVE = ("add", "remove")


class _Admin:
    """The words after `admin <verb>`, and the errors that quote the admin usage."""

    def __init__(self, c: Args, verb: str) -> None:
        self.c = Args(c.cmd, c.rest, c.is_when, c.slack_entities, usage_text=admin_usage())
        self.verb = verb
        self.a = [t.text for t in c.toks[1:]]

    def ref(self, word: str) -> Ref:
        ref = parse_ref(word)
        if ref is None:
            raise self.c.error("cmd_admin_not_a_target", word=word)
        return ref

    def unknown(self) -> Exception:
        return self.c.error("cmd_admin_unknown", verb=self.verb)


def parse_admin(c: Args) -> AdminCommand:
    if not c.toks:
        raise c.error("cmd_admin_no_verb")
    verb = c.toks[0].text.lower()
    words = _Admin(c, verb)
    parser = _VERBS.get(verb)
    if parser is None:
        raise words.unknown()
    return parser(words)


def _person(w: _Admin) -> AdminCommand:
    a = w.a
    if a[:1] != ["add"] or len(a) < 3:
        raise w.unknown()
    email = a[-1] if "@" in a[-1] and len(a) >= 4 else None
    name = " ".join(a[2 : -1 if email else None])
    return AddPerson(a[1], name, email.lower() if email else None)


def _team(w: _Admin) -> AdminCommand:
    a = w.a
    if a[:1] != ["add"] or len(a) < 3:
        raise w.unknown()
    return AddTeam(a[1], " ".join(a[2:]))


def _member(w: _Admin) -> AdminCommand:
    a = w.a
    if len(a) != 3 or a[0] not in _ADD_REMOVE:
        raise w.unknown()
    return SetMember(a[1], w.ref(a[2]), member=a[0] == "add")


def _manager(w: _Admin) -> AdminCommand:
    if len(w.a) != 2:
        raise w.unknown()
    return SetManager(w.ref(w.a[0]), w.ref(w.a[1]))


def _backup(w: _Admin) -> AdminCommand:
    if len(w.a) != 2:
        raise w.unknown()
    return SetBackup(w.ref(w.a[0]), w.ref(w.a[1]))


def _calendar(w: _Admin) -> AdminCommand:
    a = w.a
    if not 2 <= len(a) <= 5:
        raise w.unknown()
    who = w.ref(a[0])
    fields: dict[CalendarField, str] = {"tz": a[1]}
    for word in a[2:]:
        if any(ch.isdigit() for ch in word):
            fields["hours"] = word
        elif "-" in word or "," in word:
            fields["workdays"] = word
        else:
            fields["country"] = word.upper()
    return SetCalendar(who, tuple(fields.items()))


def _link(w: _Admin) -> AdminCommand:
    a = w.a
    if len(a) != 3 or a[1] not in (Platform.SLACK, Platform.TEAMS):
        raise w.unknown()
    return Link(w.ref(a[0]), Platform(a[1]), a[2])


def _admin(w: _Admin) -> AdminCommand:
    a = w.a
    if len(a) != 2 or a[0] not in _ADD_REMOVE:
        raise w.unknown()
    return SetAdmin(w.ref(a[1]), admin=a[0] == "add")


def _target(w: _Admin) -> AdminCommand:
    a = w.a
    if len(a) != 3:
        raise w.c.error("cmd_admin_bad_target")
    team, name, value = a
    try:
        if name == "on_time":
            share = float(value.rstrip("%")) / (100 if value.endswith("%") else 1)
            return SetTarget(team, on_time=share)
        if name == "first_response":
            return SetTarget(team, first_response=int(value))
    except ValueError:
        raise w.c.error("cmd_admin_not_a_number", value=value) from None
    raise w.c.error("cmd_admin_target_names")


def _digest(w: _Admin) -> AdminCommand:
    a = w.a
    if a and a[0] not in _DIGEST_WORDS:
        return ConfigureDigest(w.ref(a[0]), tuple(a[1:]))
    return ConfigureDigest(None, tuple(a))


def _policy(w: _Admin) -> AdminCommand:
    a = w.a
    if not a:
        return ShowPolicy()
    if a[0] == "nudge" and len(a) == 2:
        return ChangePolicy("nudge", a[1])
    if a[0] == "at_risk" and len(a) == 2:
        return ChangePolicy("at_risk", a[1])
    if a[0] == "buffer" and len(a) == 2:
        return ChangePolicy("buffer", a[1])
    if a[0] == "deadline" and len(a) >= 3:
        return SetDefaultDeadline(a[1].upper(), " ".join(a[2:]))
    raise w.c.error("cmd_admin_bad_policy")


_VERBS: dict[str, Callable[[_Admin], AdminCommand]] = {
    "person": _person,
    "team": _team,
    "member": _member,
    "manager": _manager,
    "backup": _backup,
    "calendar": _calendar,
    "link": _link,
    "admin": _admin,
    "target": _target,
    "digest": _digest,
    "policy": _policy,
}
