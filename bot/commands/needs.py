"""The need of each command: which capability it takes and which case, request or team it names.

This is the table `bot.access.authorize` decides from, once per command before it runs; the
services carry no permission checks of their own.
"""

from __future__ import annotations

from bot import admin
from bot.access import Capability, Need
from bot.admin.commands import ConfigureDigest, SetTarget, ShowPolicy
from bot.commands import grammar as c
from bot.commands.origin import Origin
from bot.errors import Refusal
from bot.messages import sentence

K = Capability


def case_key(command_case: str | None, origin: Origin) -> str:
    """The case a command is about: its own key, or else the thread's case."""
    key = command_case or origin.case
    if not key:
        raise Refusal(sentence("cmd_which_case"), c.usage("ask"))
    return key


def need_of(command: c.Command, origin: Origin) -> Need:
    """What `command` needs of whoever sent it."""
    match command:
        case c.Open() | c.OpenForm() | c.Mine() | c.Away() | c.Help():
            return Need(K.ANYONE)
        case c.Status():
            return Need(K.SEE_CASE, case=command.case, verb="see")
        case c.Ask():
            key = case_key(command.case, origin)
            return Need(K.RUN_CASE, case=key, verb="ask colleagues about", told="owner_told_ask")
        case c.Promise():
            return Need(
                K.RUN_CASE,
                case=command.case,
                verb="change the promise of",
                told="owner_told_promise",
            )
        case c.Update():
            return Need(K.RUN_CASE, case=command.case, verb="draft a customer update for")
        case c.Updated():
            return Need(K.RUN_CASE, case=command.case, verb="log a customer update on")
        case c.Resolve():
            return Need(K.RUN_CASE, case=command.case, verb="resolve", told="owner_told_resolve")
        case c.Reopen():
            return Need(K.RUN_CASE, case=command.case, verb="reopen", told="owner_told_reopen")
        case c.Transfer():  # both owners are told by the transfer itself
            return Need(K.RUN_CASE, case=command.case, verb="transfer")
        case c.Rate():
            return Need(
                K.RUN_CASE,
                case=command.case,
                verb="record the customer's rating of",
                told="owner_told_rate",
            )
        case c.Ack():
            return Need(K.ANSWER, request=command.request, verb="acknowledge")
        case c.Answer():
            return Need(K.ANSWER, request=command.request, verb="answer")
        case c.MoreTime():
            return Need(K.ANSWER, request=command.request, verb="ask more time for")
        case c.Redirect():
            return Need(K.REDIRECT, request=command.request, verb="redirect")
        case c.Decide():
            return Need(K.DECIDE, request=command.request, told="owner_told_decide")
        case c.Deadline():
            return Need(K.DECIDE, request=command.request, told="owner_told_deadline")
        case c.Digest():
            return Need(K.TEAM_DIGEST, team=command.team) if command.team else Need(K.ANYONE)
        case SetTarget():
            return Need(K.TEAM_TARGETS, team=command.team)
        case ShowPolicy() | ConfigureDigest():  # a manager's own digest: `bot.digests.prefs`
            return Need(K.ANYONE)
        case c.AdminCommand():
            return Need(K.ADMIN, usage=admin.usage())
    raise Refusal(sentence("cmd_not_yet"))  # pragma: no cover - every command is matched above
