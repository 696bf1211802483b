"""Delivery: each conversation at its own pace, without holding up anyone else's."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from ownit.bot.messages import Message
from ownit.bot.notices import notify
from ownit.storage.tables import Outbox, Person
from tests.conftest import ConsoleBot


class Recorder:
    """A channel under Slack's pacing (one message a second per conversation) that records."""

    name = "slack"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def reaches(self, person: Person) -> bool:
        return True

    async def send(self, person: Person, msg: Message, row: Outbox) -> None:
        self.sent.append((person.handle, msg.plain()))


async def test_a_paced_conversation_does_not_hold_up_others(bot: ConsoleBot) -> None:
    recorder = Recorder()
    bot.app.deliverer.channels.insert(0, recorder)
    async with bot.app.db.session() as s:
        people = {p.handle: p for p in (await s.exec(select(Person))).all()}
        now = datetime.now(UTC)
        for i in range(3):
            notify(s, to=people["dana"], at=now, msg=Message("x", (f"dana {i}",)))
        notify(s, to=people["bo"], at=now, msg=Message("x", ("bo 0",)))
    await bot.app.deliverer.drain()
    order = [text for _, text in recorder.sent]
    assert sorted(order) == ["bo 0", "dana 0", "dana 1", "dana 2"]
    assert [t for t in order if t.startswith("dana")] == ["dana 0", "dana 1", "dana 2"]
    assert order.index("bo 0") < order.index("dana 1")  # bo did not wait behind dana's pacing
