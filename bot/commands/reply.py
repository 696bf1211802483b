"""What running a command gives back: the messages for the person, and what they touched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.assist import Model
from bot.commands.grammar import Command
from bot.messages import Message

Finish = Callable[[Model], Awaitable[list[Message]]]
"""Work on a reply that waits on the model: run after the command's transaction committed (and
after the platform's acknowledgement), it returns the messages to show instead. It must fall
back to the messages it was given when the model answers None."""


@dataclass
class Reply:
    """The answer to one command.

    `duplicate` is set when the command was a platform's retry of one already handled: the
    messages are the first delivery's, and a platform should not post them a second time.
    """

    messages: list[Message]
    ok: bool = True
    command: Command | None = None
    case: str | None = None
    request: str | None = None
    duplicate: bool = False
    finish: Finish | None = None  # not kept: a retry gets the messages as first committed

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
    def repeated(cls, first: dict[str, Any] | None) -> Reply:
        """The answer to a retry: the first delivery's reply again (empty if it had none yet)."""
        reply = cls.from_dict(first) if first else cls([])
        reply.duplicate = True
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
    """A private error reply: why the command was not done, and its usage when that helps."""
    body = text + (f"\n{usage}" if usage else "")
    return Reply([Message("error", (body,), private=True)], ok=False)
