"""Platform-neutral command handling: text in, replies out, in one transaction.

Every adapter (console, Slack, Teams) hands over the words a person typed and who they are; this
module parses them once, runs the service, and returns the replies. The inbound delivery key is
written in the same transaction, so a platform retry or duplicate changes nothing and gets the
first answer again. With Redis, the first answer is also kept there: a retry landing on any replica
is answered from it without touching the database (the database row stays the source of truth,
so with Redis down duplicates are still refused). A database that cannot be reached gets a clear
"try again" reply, and nothing is half-written: the transaction never committed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import admin, cases, drafts, requests, views
from bot.commands import grammar as c
from bot.deadlines import looks_like_deadline
from bot.directory import (
    Rules,
    ensure_platform_person,
    person_by_handle,
    resolve,
    resolve_person,
)
from bot.errors import Refusal
from bot.messages import Message
from bot.runtime.app import Ownit
from storage.db import written
from storage.tables import Delivery, Person

log = logging.getLogger(__name__)

DATABASE_DOWN = (
    "ownit can't reach its database right now; nothing was saved — try again in a minute."
)
SEEN_FOR = 6 * 3600.0
"""How long Redis remembers an inbound delivery key and its reply (platform retries come within
minutes; the database remembers for good)."""


@dataclass(frozen=True)
class Origin:
    """Who typed the command, where: the platform, their id there, and the thread's case."""

    platform: str
    user: str
    name: str | None = None
    email: str | None = None
    tz: str | None = None
    channel: str | None = None
    thread: str | None = None
    case: str | None = None


@dataclass
class Reply:
    messages: list[Message]
    ok: bool = True
    command: c.Command | None = None
    case: str | None = None
    request: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def plain(self) -> str:
        return "\n".join(m.plain() for m in self.messages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": [m.to_dict() for m in self.messages],
            "ok": self.ok,
            "case": self.case,
            "request": self.request,
        }

    @classmethod
    def duplicate(cls, first: dict[str, Any] | None) -> Reply:
        """The answer to a retry: the first delivery's reply again (empty if it had none yet)."""
        reply = cls.from_dict(first) if first else cls([])
        reply.extra["duplicate"] = True
        return reply

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reply:
        return cls(
            [Message.from_dict(m) for m in d["messages"]],
            ok=d["ok"],
            case=d.get("case"),
            request=d.get("request"),
        )


def refusal(text: str, usage: str = "") -> Reply:
    body = text + (f"\n{usage}" if usage else "")
    return Reply([Message("error", (body,), private=True)], ok=False)


def parse(text: str) -> c.Command:
    return c.parse(text, is_when=looks_like_deadline)


async def handle(app: Ownit, text: str, origin: Origin, *, key: str | None = None) -> Reply:
    """Parse and run one command; a malformed one writes nothing and says why."""
    try:
        command = parse(text)
    except c.UsageError as exc:
        app.metrics.commands.labels("unparsed", "usage").inc()
        return refusal(exc.message, exc.usage)
    return await run(app, command, origin, key=key)


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database could not be reached."""
    import asyncpg

    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, IntegrityError):
            return False
        if isinstance(seen, OperationalError | InterfaceError | PoolTimeout):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(
            seen,
            asyncpg.ConnectionDoesNotExistError
            | asyncpg.PostgresConnectionError
            | asyncpg.InterfaceError
            | asyncpg.CannotConnectNowError
            | OSError
            | TimeoutError,
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def run(app: Ownit, command: c.Command, origin: Origin, *, key: str | None = None) -> Reply:
    started = time.perf_counter()
    name = type(command).__name__.lower()
    reply = await _run(app, command, origin, key=key)
    outcome = "duplicate" if reply.extra.get("duplicate") else ("ok" if reply.ok else "refused")
    app.metrics.commands.labels(name, outcome).inc()
    app.metrics.command_seconds.labels(name).observe(time.perf_counter() - started)
    return reply


async def _run(app: Ownit, command: c.Command, origin: Origin, *, key: str | None) -> Reply:
    claimed = False
    if key is not None:
        claimed = await app.shared.claim(f"delivery:{key}", SEEN_FOR) is True
        if not claimed:
            first = await app.shared.get(f"delivery:{key}")
            if isinstance(first, dict):
                log.info("duplicate delivery %s answered from the shared store", key)
                app.metrics.deduplicated.labels(app.shared.kind).inc()
                return Reply.duplicate(first)
            # Still being handled, or its handler died: the database decides below.
    try:
        reply = await _transact(app, command, origin, key=key)
    except Exception as exc:
        if claimed:
            await app.shared.forget(f"delivery:{key}")
        if not database_unreachable(exc):
            raise
        log.warning("database unreachable; command refused: %s", exc)
        app.metrics.database_unavailable.inc()
        return refusal(DATABASE_DOWN)
    if claimed:
        if reply.extra.get("duplicate") or not reply.ok:
            await app.shared.forget(f"delivery:{key}")
        else:
            await app.shared.put(f"delivery:{key}", reply.to_dict(), SEEN_FOR)
    return reply


async def _transact(app: Ownit, command: c.Command, origin: Origin, *, key: str | None) -> Reply:
    rules = await app.rules()
    # Read before the transaction: the simulated clock has its own session, which would wait on
    # this one's write lock on SQLite.
    now = await app.clock.now()
    try:
        async with app.db.session() as s:
            delivery = Delivery(key=key, at=now) if key is not None else None
            if delivery is not None:
                s.add(delivery)
                await s.flush()
            actor = await identify(s, origin)
            reply = await _execute(s, app, rules, command, actor, origin, now)
            reply.command = command
            if delivery is not None:
                delivery.reply = reply.to_dict()
    except IntegrityError:
        if key is None:
            raise
        async with app.db.reader() as s:
            seen = await s.get(Delivery, key)
        if seen is None:
            raise  # not the delivery key: a real conflict, not a duplicate
        log.info("duplicate delivery %s ignored", key)
        app.metrics.deduplicated.labels("database").inc()
        return Reply.duplicate(seen.reply)
    except Refusal as exc:
        return refusal(exc.message, exc.usage)
    if isinstance(command, c.Admin):  # the policy is the admins'; read it again after any
        app.rules_changed()
    app.poke()
    touched = (f"R-{i}" for i in sorted(written(s, "request")))
    app.case_changed(reply.case, *(m.case for m in reply.messages), *touched)
    return reply


async def identify(s: AsyncSession, origin: Origin) -> Person:
    if origin.platform == "console":
        person = await person_by_handle(s, origin.user)
        if person is None:
            raise Refusal(f"I don't know @{origin.user}; `/as` someone from `/who`.")
        return person
    return await ensure_platform_person(
        s,
        platform=origin.platform,
        uid=origin.user,
        name=origin.name,
        email=origin.email,
        tz=origin.tz,
    )


def _case_key(command_case: str | None, origin: Origin) -> str:
    key = command_case or origin.case
    if not key:
        raise Refusal(
            "Which case? Give its key (`/case ask C-42 @dana …`) or ask inside the case thread.",
            c.usage("ask"),
        )
    return key


async def _execute(
    s: AsyncSession,
    app: Ownit,
    rules: Rules,
    cmd: c.Command,
    actor: Person,
    origin: Origin,
    now: datetime,
) -> Reply:
    platform = origin.platform if origin.platform != "console" else None
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
            return refusal("Tell me the customer and the issue.", c.usage("open"))
        case c.Ask():
            key = _case_key(cmd.case, origin)
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
                now=now,
            )
            return Reply([msg], case=cmd.case)
        case c.Status():
            return Reply(
                [await views.case_status(s, rules=rules, case_key=cmd.case, viewer=actor)],
                case=cmd.case,
            )
        case c.Mine():
            return Reply([await views.mine(s, rules=rules, actor=actor, now=now)])
        case c.Update():
            case = await cases.get_case(s, cmd.case)
            draft = await drafts.customer_update(s, case=case, now=now, rules=rules)
            return Reply(
                [
                    Message(
                        "draft",
                        (f"Draft update for {case.customer} ({case.key}):\n\n", draft),
                        case=case.key,
                        private=True,
                    )
                ],
                case=case.key,
            )
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
        case c.Digest():
            return Reply([await admin.digest(s, rules=rules, actor=actor, team=cmd.team, now=now)])
        case c.Admin():
            msg = await admin.run(
                s,
                app_policy=app.base_policy,
                rules=rules,
                actor=actor,
                verb=cmd.verb,
                args=cmd.args,
                platform=platform,
            )
            return Reply([msg])
        case c.Help():
            return Reply([Message("help", (c.usage(cmd.topic),), private=True)])
    raise Refusal("I can't do that yet.")  # pragma: no cover - every command is matched above
