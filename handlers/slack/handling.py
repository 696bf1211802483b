"""Deliveries from the inbox, handled after their acknowledgement: a command, a click, a
mention or a message becomes a Command, is run, and its answer goes to the person.

`again`: taken over from a replica that died, perhaps after its command was done and before the
person was answered; the answer is then given (again: at least once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import involvement
from bot.commands import grammar as c
from bot.commands import plain_words, proposals
from bot.commands import service as dispatch
from bot.directory import person_by_platform
from bot.messages import Message, compose
from bot.runtime.app import Ownit
from handlers.slack import modals
from handlers.slack import payloads as p
from handlers.slack.channel import SlackChannel
from handlers.slack.profiles import Profiles
from handlers.slack.replies import Replies, for_actor, open_form
from handlers.slack.running import Runner
from handlers.slack.wording import say
from storage.states import Platform
from storage.tables import Case, Request

log = logging.getLogger(__name__)

SEEN_FOR = 3600.0


def answer_text(event: dict[str, Any]) -> str:
    """What a thread reply answers: its words, and the files it shares (`file_share`), each by
    its name and link as links in the words are."""
    parts = [p.plain_text(str(event.get("text") or "")).strip()]
    for f in event.get("files") or []:
        if isinstance(f, dict):
            name = str(f.get("title") or f.get("name") or "").strip()
            link = str(f.get("permalink") or "").strip()
            parts.append(f"{name} ({link})" if name and link else name or link)
    return "\n".join(part for part in parts if part)


class Handling:
    def __init__(
        self,
        app: Ownit,
        client: AsyncWebClient,
        runner: Runner,
        replies: Replies,
        channel: SlackChannel,
        profiles: Profiles,
        *,
        home_changed: Callable[[str], None],
    ) -> None:
        self.app = app
        self.client = client
        self.runner = runner
        self.replies = replies
        self.channel = channel
        self.profiles = profiles
        self.home_changed = home_changed

    async def handle(self, kind: str, body: dict[str, Any], again: bool = False) -> None:
        """Handle a delivery from the inbox (after its acknowledgement)."""
        if kind == "command":
            await self._command(body, again)
        elif kind == "action":
            await self.action(body, (body.get("actions") or [{}])[0], again)
        elif kind == "mention":
            await self._mention(body, body["event"], again)
        elif kind == "message":
            await self._message(body, body["event"], again)
        else:
            log.error("unknown Slack delivery kind %r", kind)

    async def lost(self, kind: str, body: dict[str, Any]) -> None:
        """A delivery acknowledged but never kept: the person is told to try again."""
        if kind in ("command", "action"):
            where = p.command_where(body) if kind == "command" else p.action_where(body)
            await self.replies.tell(where, dispatch.refusal(dispatch.DATABASE_DOWN).messages)

    async def _once(self, key: str) -> bool:
        """True the first time `key` is seen (for answers that write nothing)."""
        return await self.app.shared.claim(f"slack:seen:{key}", SEEN_FOR) is not False

    async def _run(
        self,
        command: c.Command,
        where: p.Where,
        key: str | None,
        again: bool,
        case: Case | None = None,
    ) -> bool:
        """Run a command and show its reply (False: a duplicate, nothing shown)."""
        reply = await self.runner.execute(
            command, where, key, case=case.key if case is not None else None, again=again
        )
        if reply.duplicate:
            return False
        in_thread = case is not None and reply.case == case.key
        await self.replies.tell(where, for_actor(reply, command, in_case_thread=in_thread))
        return True

    async def _refuse_once(self, key: str, where: p.Where, reply: dispatch.Reply) -> None:
        if await self._once(key):
            await self.replies.tell(where, reply.messages)

    async def _command(self, body: dict[str, Any], again: bool) -> None:
        command = p.parse(str(body.get("text") or ""))
        await self._run(command, p.command_where(body), p.command_key(body), again)

    async def action(
        self, body: dict[str, Any], action: dict[str, Any], again: bool = False
    ) -> None:
        clicked, where = p.click(action), p.action_where(body)
        if clicked.name == "edit":
            await self._edit(body, where, clicked.key)
            return
        copied = p.copy_text(clicked)
        if copied is not None:
            head = say("slack_copy_head", case_key=clicked.key)
            await self.replies.tell(
                where, [Message("draft_copy", (head + "\n\n", copied), private=True)]
            )
            return
        if p.opens_form(clicked):
            meta = {**where.meta(), "key": clicked.key}
            if clicked.name == "edit_update":
                meta["draft"] = clicked.value
            await open_form(
                self.client, body.get("trigger_id"), modals.BUILDERS[clicked.name](meta)
            )
            return
        command = p.button_command(clicked)
        if command is None:
            return
        if await self._run(command, where, p.action_key(body, action), again):
            if where.channel is None:
                self.home_changed(where.user)

    async def _edit(self, body: dict[str, Any], where: p.Where, number: str) -> None:
        """The Edit button of a proposal: its words in a form, to change and run as typed."""
        text = None
        if number.isdigit() and len(number) <= 9:
            async with self.app.db.reader() as s:
                person = await person_by_platform(s, Platform.SLACK, where.user)
                if person is not None:
                    text = await proposals.text_of(s, number=int(number), actor=person)
        if text is None:
            await self.replies.tell(
                where, [Message("error", (say("slack_edit_gone"),), private=True)]
            )
            return
        form = modals.edit(where.meta(), text)
        await open_form(self.client, body.get("trigger_id"), form)

    async def _words(
        self,
        text: str,
        where: p.Where,
        key: str,
        exc: c.UsageError,
        again: bool,
        case: Case | None = None,
    ) -> None:
        """Words that don't parse: plain words get a proposal (or the usage, AI off); a
        command typed wrong gets the grammar's message, once. `again`: the proposal may have
        been kept by a replica that died before showing it, so it is shown."""
        if not plain_words.is_plain(text):
            await self._refuse_once(key, where, dispatch.refusal(exc.message, exc.usage))
            return
        reply = await self.runner.propose(
            text, where, key, refused=exc, case=case.key if case is not None else None
        )
        if not reply.duplicate or again:
            await self.replies.tell(where, reply.messages)

    async def _mention(self, body: dict[str, Any], event: dict[str, Any], again: bool) -> None:
        where = p.mention_where(body, event)
        if not where.user:
            return
        key = p.event_key(body)
        async with self.app.db.reader() as s:
            case = await involvement.case_for_thread(
                session=s,
                platform=Platform.SLACK,
                channel=event.get("channel"),
                thread=event.get("thread_ts"),
            )
        text = str(event.get("text") or "")
        try:
            command = p.parse(text)
        except c.UsageError as exc:
            await self._words(text, where, key, exc, again, case)
            return
        if isinstance(command, c.OpenForm):
            await self._refuse_once(key, where, dispatch.refusal(say("slack_form_in_command")))
            return
        await self._run(command, where, key, again, case=case)

    async def _message(self, body: dict[str, Any], event: dict[str, Any], again: bool) -> None:
        is_dm = event.get("channel_type") == "im"
        where = p.message_where(body, event)
        channel, ts = str(event.get("channel") or ""), str(event.get("ts") or "")
        thread = event.get("thread_ts")
        key = p.event_key(body)
        text = str(event.get("text") or "")
        if is_dm and (not thread or thread == ts):
            if event.get("subtype") and not text.strip():  # a file alone is no command
                return
            try:
                command = p.parse(text)
            except c.UsageError as exc:
                await self._words(text, where, key, exc, again)
                return
            if isinstance(command, c.OpenForm):
                command = c.Help("open")
            await self._run(command, where, key, again)
            return
        if not thread or thread == ts:
            return
        await self.profiles.link(self.app.db, {where.user})
        req_key, hint = await self._answers(channel, str(thread), where.user, is_dm=is_dm)
        if req_key is None:
            if hint and await self._once(key):
                await self.replies.tell(where, [Message("hint", hint, private=True)])
            return
        answer = answer_text(event)
        if answer:
            await self._run(c.Answer(req_key, answer[: c.MAX_TEXT]), where, key, again)

    async def _answers(
        self, channel: str, thread: str, user: str, *, is_dm: bool
    ) -> tuple[str | None, tuple[Any, ...] | None]:
        """The request a thread reply answers, or a hint why none (None, None: not an answer).

        In a DM: the request whose DM it replies to, else the person's only open one. In a case
        thread: the person's only open request of that case."""
        async with self.app.db.reader() as s:
            case = None
            if is_dm:
                req = await involvement.request_for_dm(session=s, channel=channel, message=thread)
                if req is None and (req_id := self.channel.request_of_dm(channel, thread)):
                    req = await s.get(Request, req_id)
                if req is not None:
                    return req.key, None
            else:
                case = await involvement.case_for_thread(
                    session=s, platform=Platform.SLACK, channel=channel, thread=thread
                )
                if case is None:
                    return None, None
            person = await person_by_platform(s, Platform.SLACK, user)
            if person is None:
                return None, None
            mine = await involvement.open_requests_of(
                session=s, person=person, case_id=case.id if case is not None else None
            )
        if len(mine) == 1:
            return mine[0].key, None
        keys = ", ".join(r.key for r in mine)
        if is_dm:
            if not mine:
                return None, compose("slack_nothing_waiting")
            return None, compose("slack_which_request", keys=keys)
        if mine:
            return None, compose("slack_several_here", keys=keys)
        return None, None
