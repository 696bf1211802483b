"""What the organisation holds itself to: a team's targets, the escalation policy, and who gets
which digest when."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import digests
from bot.admin.commands import ChangePolicy, ConfigureDigest, SetDefaultDeadline, SetTarget
from bot.admin.replies import person, say, usage
from bot.directory import normalise_handle, team_by_key
from bot.errors import Refusal
from bot.messages import Message, sentence
from bot.policy import Policy
from storage.tables import Person, Setting


def show_policy(policy: Policy) -> Message:
    return say(
        "cmd_admin_policy", policy=", ".join(f"{k}={v}" for k, v in policy.as_dict().items())
    )


async def set_target(s: AsyncSession, *, actor: Person, command: SetTarget) -> Message:
    """Standards are the managers' to raise: a team's manager (or above) or an admin sets them."""
    team = await team_by_key(s, command.team)
    if team is None:
        raise Refusal(sentence("cmd_admin_no_team", key=normalise_handle(command.team)))
    if command.on_time is not None:
        if not 0 < command.on_time <= 1:
            raise Refusal(sentence("cmd_admin_on_time_range"))
        team.target_on_time = command.on_time
    if command.first_response is not None:
        if command.first_response <= 0:
            raise Refusal(sentence("cmd_admin_first_response_range"))
        team.target_first_response_minutes = command.first_response
    s.add(team)
    return say(
        "cmd_admin_targets",
        team=team.key,
        on_time=f"{team.target_on_time:.0%}",
        minutes=team.target_first_response_minutes,
    )


async def configure_digest(
    s: AsyncSession, *, actor: Person, command: ConfigureDigest, platform: str | None
) -> Message:
    """Managers set their own digest; admins anyone's (bot/digests.py reads the settings)."""
    named = await person(s, command.who, platform) if command.who else None
    return await digests.configure(s, actor=actor, who=named, args=list(command.settings))


async def change_policy(
    s: AsyncSession, *, app_policy: Policy, command: ChangePolicy | SetDefaultDeadline
) -> Message:
    """Store the admins' overrides of the configured policy, once the result is a valid policy."""
    row = await s.get(Setting, "policy")
    overrides = dict(row.value) if row else {}
    if isinstance(command, ChangePolicy):
        overrides[command.name] = command.value
    else:
        deadlines = dict(overrides.get("default_deadlines") or {})
        deadlines[command.priority] = command.when
        overrides["default_deadlines"] = deadlines
    try:
        policy = app_policy.with_changes(overrides)
    except ValueError as exc:
        raise Refusal(str(exc), usage()) from None
    if row is None:
        row = Setting(name="policy", value=overrides)
    row.value = overrides
    s.add(row)
    return show_policy(policy)
