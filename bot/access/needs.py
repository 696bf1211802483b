"""What a command needs: a capability, and the case, request or team it is about.

The command layer states the need of each command (`bot.commands.needs`); this module only names
the capabilities, so the rules in `decide` read as a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Capability(StrEnum):
    ANYONE = "anyone"  # open a case, mine, help, away: every person
    SEE_CASE = "see_case"  # status: whoever may see the case (all of it, or their part)
    RUN_CASE = "run_case"  # ask, transfer, promise, update, resolve, reopen, rate: owner's side
    ANSWER = "answer"  # ack, answer, more time: the asked person or asked team
    REDIRECT = "redirect"  # the asked, or once it escalated the managers it reached (see decide)
    DECIDE = "decide"  # accept or decline more time, set a deadline: asker, owner's side, or
    # the asked person's manager chain once the request escalated to them
    TEAM_DIGEST = "team_digest"  # a team's digest: its manager, above them, or an admin
    TEAM_TARGETS = "team_targets"  # a team's targets: the same people
    ADMIN = "admin"  # changing the organisation: admins


@dataclass(frozen=True)
class Need:
    """A command's need; `verb` words a refusal ("resolve"), `told` names the owner's notice
    when someone else acts on their case, `usage` goes with a refusal."""

    capability: Capability
    case: str | None = None
    request: str | None = None
    team: str | None = None
    verb: str = ""
    told: str | None = None
    usage: str = ""
