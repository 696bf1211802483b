"""How the `ownit` process writes its log: JSON lines for a log collector, or text for a person.

`OWNIT_LOG_FORMAT=auto` (the default) picks text when standard error is a terminal and JSON
otherwise (a container, a service manager, a file), so production logs parse without a setting
and a developer still reads plain lines. Every line carries the request id and the case key of
the work it is about (`bot.log_context`), and passes through the redaction filter last, so a
secret never reaches the output in either form.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from bot import log_context
from handlers.redaction import Redactor, redact_logs

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(about)s: %(message)s"

# Slack's SDK decides whether to build its debug lines (every call's arguments, headers and whole
# response body) from its logger's own level, not the effective one: left unset, it builds them
# on every call, a fifth of a call's CPU, for nothing to write them. These loggers get the level.
SLACK_LOGGERS = (
    "slack_sdk.web.async_base_client",
    "slack_sdk.web.base_client",
    "slack_sdk.webhook.async_client",
    "slack_sdk.webhook.client",
)


class ContextFilter(logging.Filter):
    """Copies the current request id and case key onto each record (`record.about` for text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = log_context.current()
        record.ownit = fields
        record.about = "".join(f" [{k}={v}]" for k, v in fields.items())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the context, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "ownit", {}),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


class _OwnitHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `setup` installs (so that a second call replaces it). Without a stream of its
    own it writes to whatever `sys.stderr` is at the time, as `print(file=sys.stderr)` does."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream)
        self._own = stream

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return self._own or sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._own = value


def wants_json(fmt: str, stream: TextIO) -> bool:
    if fmt == "auto":
        isatty = getattr(stream, "isatty", None)
        return not (isatty and isatty())
    return fmt == "json"


def setup(
    level: int | str, fmt: str, redact: Redactor, *, stream: TextIO | None = None
) -> logging.Handler:
    """Put one handler writing to `stream` (standard error) on the root logger, in place of one
    an earlier call put there (handlers others installed, such as a test's, stay)."""
    out = stream or sys.stderr
    handler = _OwnitHandler(out)
    handler.setFormatter(
        JsonFormatter() if wants_json(fmt, out) else logging.Formatter(TEXT_FORMAT)
    )
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OwnitHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in SLACK_LOGGERS:
        logging.getLogger(name).setLevel(level)
    redact_logs(redact)  # after the context filter: it sees the final message
    return handler
