"""Secrets out of everything the `ownit` command writes: its log lines, tracebacks and messages.

ownit's own log lines never name a secret, but libraries log what they were given (a URL, a
request, an exception that quotes its input), and a future log line may slip. So every line the
process writes passes through a `Redactor` that knows the configured secrets (`Settings.secrets`)
and hides the password of any URL it meets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from storage.db import hide_password

HIDDEN = "***"
SHORTEST = 4  # a "secret" shorter than this would blank out ordinary text, and is no secret


class Redactor:
    """`redact(text)`: the text with each known secret and each URL password replaced."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so that a secret containing another is hidden whole.
        self.secrets = sorted({s for s in secrets if len(s) >= SHORTEST}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, HIDDEN)
        return hide_password(text)


class RedactingFilter(logging.Filter):
    """A handler filter: the record's message, traceback and stack, redacted before they are
    written. On a handler (not a logger) it sees the records of every logger that propagates."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call; logging reports it itself, unredacted args unseen
            message = str(record.msg)
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def redact_logs(redact: Redactor, logger: logging.Logger | None = None) -> None:
    """Put `redact` on every handler of `logger` (the root by default), replacing an earlier
    one, so that calling it again with other secrets does not pile filters up."""
    for handler in (logger or logging.getLogger()).handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingFilter(redact))
