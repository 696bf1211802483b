"""Answers to Teams activities: posts in the conversation, the invoke response, cards in place.

A reply goes where the command was typed, but a private one (or a refusal) typed in a channel goes
to the author's personal chat when ownit can reach them there. A case opened in Teams makes the
conversation it was opened in (its reply chain, or the personal chat) the case's home. Commands
named in a reply are worded as they are sent in the conversation it goes to (`syntax`), and a
request card pressed by the person asked keeps their buttons while the request is open.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from botbuilder.schema import Activity, ActivityTypes, Attachment

from bot.cases import attach_thread, get_case
from bot.commands import grammar as c
from bot.commands.service import Reply
from bot.directory import person_by_platform
from bot.ladder import colleague_actions
from bot.messages import Message, compose
from bot.requests import get_request
from bot.runtime.app import Ownit
from handlers.teams import activities as a
from handlers.teams import render as render_teams
from handlers.teams import syntax
from handlers.teams.cards import CaseCards
from handlers.teams.connector import Connector
from handlers.teams.references import reference_of
from handlers.teams.wording import wording
from storage.states import OPEN_REQUEST_STATES
from storage.tables import Case, Person

MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"


def toast(text: str) -> dict[str, Any]:
    """An invoke response that shows a short message and leaves the card as it was."""
    return {"statusCode": 200, "type": MESSAGE_RESPONSE, "value": text}


def card_response(content: dict[str, Any]) -> dict[str, Any]:
    """An invoke response that replaces the pressed card with `content`."""
    return {"statusCode": 200, "type": render_teams.CARD_CONTENT_TYPE, "value": content}


class Replies:
    def __init__(self, app: Ownit, connector: Connector, cards: CaseCards) -> None:
        self.app = app
        self.connector = connector
        self.cards = cards

    async def post(self, act: Activity, msg: Message) -> str | None:
        """One message in the activity's conversation; the posted activity's id."""
        activity = render_teams.activity(syntax.message(msg, in_channel=not a.is_personal(act)))
        return await self.connector.send(act.service_url, act.conversation.id, activity)

    async def send(self, act: Activity, reply: Reply) -> None:
        """Every message of a reply; a case just opened makes this conversation its home."""
        for i, msg in enumerate(reply.messages):
            if (msg.private or not reply.ok) and not a.is_personal(act):
                if await self._to_personal(act, msg):
                    continue
            sent = await self.post(act, msg)
            if i == 0 and reply.ok and isinstance(reply.command, c.Open) and reply.case:
                await self.attach(reply.case, act, sent)

    async def _to_personal(self, act: Activity, msg: Message) -> bool:
        """A private reply to a channel command goes to the author's personal chat, if known."""
        uid = a.sender_uid(act)
        if uid is None:
            return False
        async with self.app.db.reader() as s:
            person = await person_by_platform(s, a.PLATFORM, uid)
            ref = await reference_of(s, person.id) if person is not None else None
        if ref is None or not ref.conversation_id:
            return False
        personal = render_teams.activity(syntax.message(msg, in_channel=False))
        await self.connector.send(ref.service_url or act.service_url, ref.conversation_id, personal)
        return True

    async def attach(self, case_key: str, act: Activity, message_id: str | None) -> None:
        """The case's home: the reply chain it was opened in (channel) or the personal chat."""
        conv = act.conversation.id
        async with self.app.db.session() as s:
            case = await get_case(s, case_key)
            if case.platform is not None:
                return
            await attach_thread(
                session=s,
                case=case,
                platform=a.PLATFORM,
                channel=a.thread_root(conv),
                thread=a.thread_of(conv),
                message_id=message_id,
            )

    async def refresh(self, reply: Reply) -> None:
        """The case card at the head of the case's reply chain, in step with what changed."""
        if reply.ok and (reply.case or reply.request):
            await self.cards.refresh(case_key=reply.case, request_key=reply.request)

    async def form(self, act: Activity) -> None:
        """`case open` alone: the form card, whose button opens the case without parsing."""
        form = Activity(
            type=ActivityTypes.message,
            attachments=[
                Attachment(
                    content_type=render_teams.CARD_CONTENT_TYPE,
                    content=render_teams.open_form_card(),
                )
            ],
        )
        await self.connector.send(act.service_url, act.conversation.id, form)

    async def welcome(self, act: Activity, person: Person, missed: int) -> None:
        more = wording("teams_missed", count=missed) if missed else ""
        text = wording("teams_welcome", name=person.name, missed=more)
        await self.post(act, Message("welcome", (text,)))

    async def beside_the_card(self, act: Activity, reply: Reply) -> None:
        """What an invoke's card response does not show: a case opened from the form lives
        in the form's place; the reply's further messages are posted after it."""
        if not reply.ok or not reply.messages or reply.duplicate:
            return
        if isinstance(reply.command, c.Open) and reply.case:
            await self.attach(reply.case, act, act.reply_to_id)  # the form card becomes the case's
        for msg in reply.messages[1:]:
            await self.post(act, msg)

    async def invoke_body(self, reply: Reply) -> dict[str, Any]:
        """The invoke response: the pressed card replaced by the reply (with what it was about),
        or a short message that leaves the card as it was."""
        if not reply.ok:
            first = reply.messages[0] if reply.messages else None
            return toast(render_teams.plain_text(first) if first else wording("teams_refused"))
        if not reply.messages:
            return toast(wording("teams_done"))
        first = reply.messages[0]
        context = await self.context(first.request)
        return card_response(render_teams.card(first, note=context))

    async def update_card(self, act: Activity, reply: Reply) -> Reply:
        """An older card's `Action.Submit`: the card shows the first message in place; the rest
        is returned to be sent."""
        if not (reply.ok and reply.messages and act.reply_to_id):
            return reply
        first, *rest = reply.messages
        context = await self.context(first.request)
        first = syntax.message(first, in_channel=not a.is_personal(act))
        await self.connector.update(
            act.service_url,
            act.conversation.id,
            act.reply_to_id,
            render_teams.activity(first, note=context),
        )
        return Reply(rest, case=reply.case, request=reply.request)

    async def for_the_card(self, act: Activity, reply: Reply) -> Reply:
        """A pressed card's reply as the card will show it: in the words of its conversation and,
        on a request card pressed by the person it is asked of, with their buttons for as long as
        the request is open (an answer or a redirect ends them; asking for more time does not)."""
        reply = syntax.reply(reply, in_channel=not a.is_personal(act))
        if not reply.ok or not reply.messages or reply.messages[0].actions:
            return reply
        first = reply.messages[0]
        key, uid = first.request or reply.request, a.sender_uid(act)
        if not key or not uid:
            return reply
        async with self.app.db.reader() as s:
            try:
                req = await get_request(s, key)
            except Exception:
                return reply
            person = await person_by_platform(s, a.PLATFORM, uid)
        if person is None or req.assignee_id != person.id or req.status not in OPEN_REQUEST_STATES:
            return reply
        actions = tuple(b for b in colleague_actions(req) if not (b.name == "ack" and req.acked_at))
        first = dataclasses.replace(first, actions=actions)
        return dataclasses.replace(reply, messages=[first, *reply.messages[1:]])

    async def context(self, key: str | None) -> Message | None:
        """What the card was about, kept on the card after a button replaces it."""
        if not key:
            return None
        async with self.app.db.reader() as s:
            try:
                req = await get_request(s, key)
            except Exception:
                return None
            case = await s.get(Case, req.case_id)
        if case is None:
            return None
        segments = compose(
            "teams_card_context",
            request_key=req.key,
            case_key=case.key,
            customer=case.customer,
            question=req.question,
        )
        return Message("context", segments, case=case.key, request=req.key)
