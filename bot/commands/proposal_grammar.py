"""`/case confirm <number>`: run a command ownit proposed to you (from your plain words, or a
colleague it suggested asking). Buttons give the same typed `Confirm`; the proposal itself is
kept in the database (`bot.commands.proposals`), never read back from the button."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.commands.words import MAX_INTEGER, Args, show

_NUMBER = re.compile(r"#?([0-9]{1,10})")


@dataclass(frozen=True)
class Confirm:
    proposal: int


def parse_confirm(c: Args) -> Confirm:
    if not c.toks:
        raise c.error("cmd_confirm_needs_number")
    c.no_more(1, "cmd_only_a_number")
    raw = c.toks[0].text
    m = _NUMBER.fullmatch(raw)
    if m is None or int(m.group(1)) > MAX_INTEGER:
        raise c.error("cmd_confirm_not_a_number", token=show(raw))
    return Confirm(int(m.group(1)))
