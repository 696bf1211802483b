"""A platform's retry of a delivery already handled: the first answer again, nothing changed.

The delivery key is written in the transaction of the change it made (`storage.inbox_row`), so a
retry's transaction fails on it; this tells that conflict from any other and finds the answer.
"""

from __future__ import annotations

import logging

from bot.commands.reply import Reply
from bot.runtime.app import Ownit
from storage.tables import Delivery

log = logging.getLogger(__name__)


async def first_answer(app: Ownit, key: str | None) -> Reply | None:
    """The reply recorded with `key`, when a failed transaction's conflict was that key's;
    None when it was some other conflict (to be raised again)."""
    if key is None:
        return None
    async with app.db.reader() as s:
        seen = await s.get(Delivery, key)
    if seen is None:
        return None
    log.info("duplicate delivery %s ignored", key)
    app.metrics.deduplicated.labels("database").inc()
    return Reply.repeated(seen.reply)
