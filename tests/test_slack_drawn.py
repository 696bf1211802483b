"""What Slack messages were last drawn with: an unchanged redraw is skipped, and only the
messages drawn most lately are remembered, so a long-running process does not grow with every
request it posts."""

from __future__ import annotations

from handlers.slack.drawn import Drawn


def blocks(text: str) -> list[dict[str, object]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def test_an_unchanged_message_is_known_and_a_changed_one_is_not() -> None:
    drawn = Drawn()
    drawn.drew("C1", "1.0", blocks("R-1 open"))
    assert drawn.unchanged("C1", "1.0", blocks("R-1 open"))
    assert not drawn.unchanged("C1", "1.0", blocks("R-1 answered"))
    assert not drawn.unchanged("C2", "1.0", blocks("R-1 open"))  # another channel's message


def test_only_the_messages_drawn_most_lately_are_remembered() -> None:
    drawn = Drawn(most=3)
    for n in range(5):
        drawn.drew("C1", f"{n}.0", blocks(f"R-{n}"))
    drawn.drew("C1", "2.0", blocks("R-2"))  # drawn again: now the most recent
    assert len(drawn) == 3
    assert not drawn.unchanged("C1", "0.0", blocks("R-0"))  # forgotten: drawn again if asked
    assert not drawn.unchanged("C1", "1.0", blocks("R-1"))
    assert all(drawn.unchanged("C1", f"{n}.0", blocks(f"R-{n}")) for n in (2, 3, 4))
    drawn.drew("C1", "5.0", blocks("R-5"))
    assert drawn.unchanged("C1", "2.0", blocks("R-2"))  # kept: it was drawn after R-3
    assert not drawn.unchanged("C1", "3.0", blocks("R-3"))
