"""Platform-neutral command handling: text in, replies out, in one transaction.

Every adapter (console, Slack, Teams) hands over the words a person typed and who they are; this
module parses them once, runs the service, and returns the replies. The inbound delivery key is
written in the same transaction, so a platform retry or duplicate changes nothing and gets the
first answer again. With Redis, the first answer of a delivery handled at once (not taken from the
inbox, whose key is one of a kind already) is also kept there: a retry landing on any replica
is answered from it without touching the database (the database row stays the source of truth,
so with Redis down duplicates are still refused). A database that cannot be reached gets a clear
"try again" reply, and nothing is half-written: the transaction never committed.

Who may run what is decided here, once, before the command runs (`bot.access`): who counts as a
person (`identify`), then the command's need against the rows it names (`authorize`).
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import DBAPIError, IntegrityError

from bot import access, log_context
from bot.commands import grammar as c
from bot.commands import plain_words, who_to_ask
from bot.commands.execute import execute
from bot.commands.identity import identify
from bot.commands.needs import need_of
from bot.commands.origin import Origin
from bot.commands.outage import database_down, database_unreachable
from bot.commands.proposals import take
from bot.commands.repeats import first_answer
from bot.commands.reply import Reply, refusal
from bot.deadlines import looks_like_deadline
from bot.errors import Refusal
from bot.runtime.app import Ownit
from storage import inbox_row
from storage.db import earliest_due, held, made, written

__all__ = [
    "DATABASE_DOWN",
    "Origin",
    "Reply",
    "database_unreachable",
    "execute",
    "handle",
    "identify",
    "parse",
    "refusal",
    "run",
]

log = logging.getLogger(__name__)

DATABASE_DOWN = database_down()
SEEN_FOR = 6 * 3600.0
"""How long Redis remembers an inbound delivery key and its reply (platform retries come within
minutes; the database remembers for good)."""


def parse(text: str) -> c.Command:
    return c.parse(text, is_when=looks_like_deadline)


async def handle(app: Ownit, text: str, origin: Origin, *, key: str | None = None) -> Reply:
    """Parse and run one command; a malformed one writes nothing and says why, and plain words
    may get a proposed command instead (`plain_words`)."""
    try:
        command = parse(text)
    except c.UsageError as exc:
        app.metrics.commands.labels("unparsed", "usage").inc()
        if plain_words.is_plain(text):
            return await plain_words.propose(app, text, origin, key=key, parse=parse, refused=exc)
        return refusal(exc.message, exc.usage)
    return await run(app, command, origin, key=key)


async def run(app: Ownit, command: c.Command, origin: Origin, *, key: str | None = None) -> Reply:
    log_context.case_key.set(getattr(command, "case", None))
    started = time.perf_counter()
    name = "admin" if isinstance(command, c.AdminCommand) else type(command).__name__.lower()
    if isinstance(command, c.Ask) and await who_to_ask.names_nobody(app, command):
        reply = await who_to_ask.suggest(app, command, origin, key=key)
    else:
        reply = await _run(app, command, origin, key=key)
    log_context.about_case(reply.case)
    outcome = "duplicate" if reply.duplicate else ("ok" if reply.ok else "refused")
    app.metrics.commands.labels(name, outcome).inc()
    app.metrics.command_seconds.labels(name).observe(time.perf_counter() - started)
    return reply


async def _run(app: Ownit, command: c.Command, origin: Origin, *, key: str | None) -> Reply:
    claimed = False
    # A delivery taken from the inbox is the only one of its key while its row lives (the
    # acknowledgement wrote it once), so Redis has nothing to add; a retry that arrives after the
    # row is gone is answered by the database's delivery key.
    if key is not None and inbox_row.handling.get() is None:
        claimed = await app.shared.claim(f"delivery:{key}", SEEN_FOR) is True
        if not claimed:
            first = await app.shared.get(f"delivery:{key}")
            if isinstance(first, dict):
                log.info("duplicate delivery %s answered from the shared store", key)
                app.metrics.deduplicated.labels(app.shared.kind).inc()
                return Reply.repeated(first)
            # Still being handled, or its handler died: the database decides below.
    try:
        reply = await _transact_anew(app, command, origin, key=key)
    except Exception as exc:
        if claimed:
            await app.shared.forget(f"delivery:{key}")
        if not database_unreachable(exc):
            raise
        log.warning("database unreachable; command refused: %s", exc)
        app.metrics.database_unavailable.inc()
        return refusal(DATABASE_DOWN)
    if claimed:
        if reply.duplicate or not reply.ok:
            await app.shared.forget(f"delivery:{key}")
        else:
            await app.shared.put(f"delivery:{key}", reply.to_dict(), SEEN_FOR)
    return reply


async def _transact_anew(
    app: Ownit, command: c.Command, origin: Origin, *, key: str | None
) -> Reply:
    """The command's transaction, once more on a fresh connection if the pool handed out one
    that had died (connections are not pinged on checkout): it never committed, so nothing is
    done twice."""
    try:
        return await _transact(app, command, origin, key=key)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.info("a pooled connection had died (%s); running the command again", exc)
        return await _transact(app, command, origin, key=key)


async def _transact(app: Ownit, command: c.Command, origin: Origin, *, key: str | None) -> Reply:
    rules = await app.rules()
    # Read before the transaction: the simulated clock has its own session, which would wait on
    # this one's write lock on SQLite.
    now = await app.clock.now()
    inbox_row.begin()
    try:
        async with app.db.session() as s:
            actor = await identify(s, origin)
            if isinstance(command, c.Confirm):  # the proposal's command, run as if typed
                command = await take(s, number=command.proposal, actor=actor, now=now)
            need = need_of(command, origin)
            grant = await access.authorize(session=s, actor=actor, need=need)
            reply = await execute(
                session=s,
                base_policy=app.base_policy,
                rules=rules,
                command=command,
                actor=actor,
                origin=origin,
                now=now,
                grant=grant,
            )
            await access.tell_owner(
                session=s, grant=grant, need=need, actor=actor, now=now, request_key=reply.request
            )
            reply.command = command
            if key is not None:  # written with the change: a duplicate fails here, undone
                inbox_row.record_delivery(s, key=key, at=now, reply=reply.to_dict())
        inbox_row.committed()
    except IntegrityError:
        if (first := await first_answer(app, key)) is None:
            raise  # not the delivery key: a real conflict, not a duplicate
        return first
    except Refusal as exc:
        # A retry of a delivery already handled is often refused by what the first one changed
        # (an answered request takes no second answer): it gets the first answer instead.
        if (first := await first_answer(app, key)) is not None:
            return first
        return refusal(exc.message, exc.usage)
    if isinstance(command, c.AdminCommand):  # the policy is the admins'; read it again after any
        app.rules_changed()
    app.poke(timers=app.scheduler.wanted(earliest_due(s), now))
    touched = (f"R-{i}" for i in sorted(written(s, "request")))
    keys = (reply.case, *(m.case for m in reply.messages), *touched)
    # with the rows it held, and the requests it made, to draw from without reading them again
    app.case_changed(*keys, rows=held(s), made=sorted(made(s, "request")))
    if reply.finish is not None:  # committed, outside any transaction: now the model may be asked
        try:
            reply.messages = await reply.finish(app.model)
        except Exception:  # what was committed is the answer; the words are a bonus
            log.exception("finishing the reply to %s failed; the committed reply stands", command)
        reply.finish = None
    return reply
