"""One parsed command carried out by the domain service it names, inside the caller's session.

This is the table from command to service: it resolves the people and teams a command names,
calls the service with keyword arguments, and says which case or request the reply is about.
Whether the actor may run it was decided before (`bot.access.authorize`, from `needs`).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import admin, cases, digests, requests, views
from bot.access import Grant
from bot.commands import grammar as c
from bot.commands.needs import case_key
from bot.commands.origin import Origin
from bot.commands.reply import Reply, refusal
from bot.directory import Rules, resolve, resolve_person
from bot.errors import Refusal
from bot.messages import Message, sentence
from bot.policy import Policy
from storage.tables import Person


async def execute(
    *,
    session: AsyncSession,
    base_policy: Policy,
    rules: Rules,
    command: c.Command,
    actor: Person,
    origin: Origin,
    now: datetime,
    grant: Grant,
) -> Reply:
    """Run `command` as `actor`, as `grant` allows; a Refusal here rolls it all back."""
    s, cmd, platform = session, command, origin.directory_platform
    match cmd:
        case c.Open():
            case, msg = await cases.open_case(
                session=s,
                rules=rules,
                owner=actor,
                customer=cmd.customer,
                summary=cmd.summary,
                promise=cmd.promise,
                priority=cmd.priority,
                now=now,
            )
            return Reply([msg], case=case.key)
        case c.OpenForm():
            return refusal(sentence("cmd_open_form"), c.usage("open"))
        case c.Ask():
            key = case_key(cmd.case, origin)
            target = await resolve(s, cmd.target, platform=platform)
            msgs = await requests.ask(
                session=s,
                rules=rules,
                actor=actor,
                case_key=key,
                target=target,
                question=cmd.question,
                by=cmd.by,
                now=now,
            )
            return Reply(msgs, case=key, request=msgs[0].request)
        case c.Promise():
            msg = await cases.set_promise(
                session=s,
                rules=rules,
                actor=actor,
                case_key=cmd.case,
                when=cmd.when,
                what=cmd.what,
                kept=cmd.kept,
                at=cmd.at,
                now=now,
            )
            return Reply([msg], case=cmd.case)
        case c.Status():
            return Reply(
                [
                    await views.case_status(
                        s, rules=rules, case_key=cmd.case, viewer=actor, sight=grant.sight
                    )
                ],
                case=cmd.case,
            )
        case c.Mine():
            return Reply([await views.mine(s, rules=rules, actor=actor, now=now)])
        case c.Update():
            draft, finish = await cases.draft_update(
                session=s, rules=rules, actor=actor, case_key=cmd.case, now=now
            )
            return Reply([draft], case=cmd.case, finish=finish)
        case c.Updated():
            msg = await cases.log_update(
                session=s, actor=actor, case_key=cmd.case, text=cmd.text, now=now
            )
            return Reply([msg], case=cmd.case)
        case c.Resolve():
            msg = await cases.resolve(
                session=s, rules=rules, actor=actor, case_key=cmd.case, note=cmd.note, now=now
            )
            return Reply([msg], case=cmd.case)
        case c.Reopen():
            msg = await cases.reopen(
                session=s, rules=rules, actor=actor, case_key=cmd.case, now=now
            )
            return Reply([msg], case=cmd.case)
        case c.Transfer():
            to = await resolve_person(s, cmd.to, platform=platform)
            msg = await cases.transfer(
                session=s,
                rules=rules,
                actor=actor,
                case_key=cmd.case,
                to=to,
                reason=cmd.reason,
                now=now,
            )
            return Reply([msg], case=cmd.case)
        case c.Rate():
            msg = await cases.rate(
                session=s,
                actor=actor,
                case_key=cmd.case,
                score=cmd.score,
                comment=cmd.comment,
                now=now,
            )
            return Reply([msg], case=cmd.case)
        case c.Ack():
            msg = await requests.acknowledge(
                session=s, rules=rules, actor=actor, request_key=cmd.request, eta=cmd.eta, now=now
            )
            return Reply([msg], request=cmd.request)
        case c.Answer():
            msg = await requests.answer(
                session=s,
                rules=rules,
                actor=actor,
                request_key=cmd.request,
                text=cmd.text,
                now=now,
            )
            return Reply([msg], request=cmd.request)
        case c.MoreTime():
            msg = await requests.more_time(
                session=s,
                rules=rules,
                actor=actor,
                request_key=cmd.request,
                when=cmd.when,
                reason=cmd.reason,
                now=now,
            )
            return Reply([msg], request=cmd.request)
        case c.Decide():
            msg = await requests.decide(
                session=s,
                rules=rules,
                actor=actor,
                request_key=cmd.request,
                accept=cmd.accept,
                note=cmd.note,
                now=now,
            )
            return Reply([msg], request=cmd.request)
        case c.Deadline():
            msg = await requests.set_deadline(
                session=s,
                rules=rules,
                actor=actor,
                request_key=cmd.request,
                when=cmd.when,
                at=cmd.at,
                now=now,
            )
            return Reply([msg], request=cmd.request)
        case c.Redirect():
            target = await resolve(s, cmd.to, platform=platform)
            msg = await requests.redirect(
                session=s,
                rules=rules,
                actor=actor,
                request_key=cmd.request,
                to=target,
                reason=cmd.reason,
                now=now,
            )
            return Reply([msg], request=cmd.request)
        case c.Away():
            backup = await resolve_person(s, cmd.backup, platform=platform) if cmd.backup else None
            msg = await requests.set_away(
                session=s, rules=rules, actor=actor, until=cmd.until, backup=backup, now=now
            )
            return Reply([msg])
        case c.Digest():
            msg = await digests.on_demand(s, rules=rules, actor=actor, team=cmd.team, now=now)
            return Reply([msg], finish=digests.words_later(msg, now=now))
        case c.AdminCommand():
            msg = await admin.run(
                s,
                app_policy=base_policy,
                rules=rules,
                actor=actor,
                command=cmd,
                platform=platform,
            )
            return Reply([msg])
        case c.Help():
            return Reply([Message("help", (c.usage(cmd.topic),), private=True)])
    raise Refusal(sentence("cmd_not_yet"))  # pragma: no cover - every command is matched above
