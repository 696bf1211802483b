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
from bot.commands.words import (
    MAX_EMAIL,
    MAX_HANDLE,
    MAX_INTEGER,
    MAX_NAME,
    MAX_PLATFORM_ID,
    MAX_SLACK_ID,
    Args,
    parse_ref,
)
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

    def fits(self, value: str, limit: int, what: str) -> str:
        """`value`, or the refusal that says it is longer than the column that would keep it."""
        if len(value) > limit:
            raise self.c.error("cmd_text_too_long", what=what, length=len(value), limit=limit)
        return value


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
    handle = w.fits(a[1], MAX_HANDLE + 1, "handle")  # `@dana`: the @ is not kept
    w.fits(name, MAX_NAME, "name")
    if email:
        w.fits(email, MAX_EMAIL, "e-mail")
    return AddPerson(handle, name, email.lower() if email else None)


def _team(w: _Admin) -> AdminCommand:
    a = w.a
    if a[:1] != ["add"] or len(a) < 3:
        raise w.unknown()
    key = w.fits(a[1], MAX_HANDLE + 1, "team key")
    return AddTeam(key, w.fits(" ".join(a[2:]), MAX_NAME, "name"))


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
    platform = Platform(a[1])
    widest = MAX_SLACK_ID if platform == Platform.SLACK else MAX_PLATFORM_ID
    return Link(w.ref(a[0]), platform, w.fits(a[2], widest, f"{platform} id"))


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
            minutes = int(value)
            if minutes > MAX_INTEGER:
                raise ValueError(value)
            return SetTarget(team, first_response=minutes)
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
