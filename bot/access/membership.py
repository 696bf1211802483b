"""Who counts as a person: someone in the org file, or a full member of the organisation's own
Slack workspace or Teams tenant. Guests, bots and other workspaces get help and nothing else.

The platform handlers read the facts (a Slack user's restrictions and team, a Teams tenant) into
the `Origin`; the decision is made here, the same for every platform.
"""

from __future__ import annotations

import logging
from typing import Protocol

from bot.errors import NotAllowed
from bot.messages import sentence

log = logging.getLogger(__name__)


class Facts(Protocol):
    """What a platform says of whoever sent a command (see `bot.commands.origin.Origin`)."""

    @property
    def platform(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def guest(self) -> bool: ...
    @property
    def bot(self) -> bool: ...
    @property
    def known(self) -> bool: ...
    @property
    def home(self) -> str | None: ...
    @property
    def org_home(self) -> str | None: ...


def outsider(facts: Facts) -> bool:
    """From another workspace or tenant than the organisation's own (when both are known)."""
    return bool(facts.home and facts.org_home and facts.home != facts.org_home)


def full_member(facts: Facts) -> bool:
    """A full member of the organisation's workspace or tenant: may become a person on sight."""
    return facts.known and not facts.guest and not facts.bot and not outsider(facts)


def admit(facts: Facts) -> None:
    """Refuse what no one may send: a request without a user, or from another workspace."""
    if not facts.user.strip():
        log.warning("refused a %s request without a user", facts.platform)
        raise NotAllowed(sentence("access_no_user"))
    if outsider(facts):
        log.warning(
            "refused %s user %s from %s (not %s)",
            facts.platform,
            facts.user,
            facts.home,
            facts.org_home,
        )
        raise NotAllowed(sentence("access_other_workspace"))
