"""What a log line is about: the delivery being handled and the case it concerns.

Set where work enters (the inbox worker, the command service) and read by the log formatter, so
every line written while handling one delivery carries its request id and case key without each
call site passing them along. Context variables follow the task, so concurrent workers never mix
their lines up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("ownit_request_id", default=None)
case_key: ContextVar[str | None] = ContextVar("ownit_case_key", default=None)


@contextmanager
def handling(request: str) -> Iterator[None]:
    """Lines written inside are about the delivery `request` (its case is not known yet)."""
    token = request_id.set(request)
    case_token = case_key.set(None)
    try:
        yield
    finally:
        case_key.reset(case_token)
        request_id.reset(token)


def about_case(key: str | None) -> None:
    """From here on, this task's lines concern the case `key` (when a command names one)."""
    if key:
        case_key.set(key)


def current() -> dict[str, str]:
    """The fields to add to a line: only those that are set."""
    found = {"request_id": request_id.get(), "case": case_key.get()}
    return {k: v for k, v in found.items() if v}
