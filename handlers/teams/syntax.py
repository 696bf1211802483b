"""Commands as a Teams user sends them.

ownit's wording names its commands the Slack way, `/case ack R-1`. Teams has no `/case`: the same
words are sent to the bot as a message, as they are in a personal chat (`ack R-1`) and after an
@mention of the bot in a channel or group chat, where the bot hears only what mentions it
(`@ownit ack R-1`). So what goes to Teams is reworded for the conversation it goes to.
"""

from __future__ import annotations

import dataclasses
import re

from bot.commands.reply import Reply
from bot.messages import Code, Message, Segment
from handlers.teams.wording import wording

_SLASH_COMMAND = re.compile(r"(?<![\w/])/case[ \t]+(?=\S)")


def prefix(*, in_channel: bool) -> str:
    """What comes before a command's words in this kind of conversation."""
    return wording("teams_command_in_channel" if in_channel else "teams_command_in_chat")


def words(text: str, *, in_channel: bool) -> str:
    """`text` with every `/case …` command written as the words to send the bot."""
    if "/case" not in text:
        return text
    return _SLASH_COMMAND.sub(prefix(in_channel=in_channel), text)


def _segment(seg: Segment, in_channel: bool) -> Segment:
    if isinstance(seg, str):
        return words(seg, in_channel=in_channel)
    if isinstance(seg, Code):
        return Code(words(seg.text, in_channel=in_channel))
    return seg


def message(msg: Message, *, in_channel: bool) -> Message:
    segments = tuple(_segment(s, in_channel) for s in msg.segments)
    return msg if segments == msg.segments else dataclasses.replace(msg, segments=segments)


def reply(answer: Reply, *, in_channel: bool) -> Reply:
    messages = [message(m, in_channel=in_channel) for m in answer.messages]
    return dataclasses.replace(answer, messages=messages)
