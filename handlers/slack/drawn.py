"""What the messages ownit keeps up to date in Slack (case cards, request posts) were last drawn
with, so that a redraw that changes nothing makes no call.

Kept for the messages drawn most lately only: a busy process posts a request every few
milliseconds and would otherwise keep one entry for each for as long as it runs. A message
forgotten here is simply drawn again the next time it is redrawn.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

MOST = 20_000  # messages remembered (about 5 MB)


def digest(blocks: list[Any]) -> bytes:
    """The blocks' fingerprint. Built by ownit's own code, the same blocks come out with their
    keys in the same order (keys in another order would only cost one needless update)."""
    return hashlib.blake2b(json.dumps(blocks).encode(), digest_size=16).digest()


class Drawn:
    def __init__(self, most: int = MOST) -> None:
        self.most = most
        self._digests: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    def to_draw(self, channel: str, ts: str, blocks: list[Any]) -> bytes | None:
        """The fingerprint to `keep` once `blocks` are drawn, or None: the message shows them."""
        mark = digest(blocks)
        return None if self._digests.get((channel, ts)) == mark else mark

    def unchanged(self, channel: str, ts: str, blocks: list[Any]) -> bool:
        return self.to_draw(channel, ts, blocks) is None

    def drew(self, channel: str, ts: str, blocks: list[Any]) -> None:
        """The message `ts` in `channel` now shows `blocks`."""
        self.keep(channel, ts, digest(blocks))

    def keep(self, channel: str, ts: str, mark: bytes) -> None:
        key = (channel, ts)
        self._digests[key] = mark
        self._digests.move_to_end(key)
        while len(self._digests) > self.most:
            self._digests.popitem(last=False)

    def __len__(self) -> int:
        return len(self._digests)
