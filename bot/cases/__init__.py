"""Cases: open, promise, update the customer, transfer, resolve, reopen, rate.

Each service takes keyword-only arguments, works inside the caller's transaction, and returns the
message for the person who asked; notices for others go to the outbox. A Refusal rolls it all back.
"""

from __future__ import annotations

from bot.cases.closing import rate, reopen, resolve
from bot.cases.lookup import (
    PRIORITIES,
    attach_thread,
    get_case,
    owner_of,
    parse_key,
    parse_when,
    require_open,
)
from bot.cases.opening import open_case
from bot.cases.ownership import transfer
from bot.cases.promises import set_promise
from bot.cases.updates import draft_update, log_update

__all__ = [
    "PRIORITIES",
    "attach_thread",
    "draft_update",
    "get_case",
    "log_update",
    "open_case",
    "owner_of",
    "parse_key",
    "parse_when",
    "rate",
    "reopen",
    "require_open",
    "resolve",
    "set_promise",
    "transfer",
]
