"""How every process writes its log: one JSON object per line, or text for a terminal (entry helper).

Servers (the Slack web and socket processes, the training worker) log JSON by default so a log
pipeline can filter on fields: `time`, `level`, `logger`, `message`, `process`, `thread`, the ids
bound in `store.log_context` (answer_id, event_id, run_id, adapter_id) where they exist, anything a
call passes in `extra=`, and `exc_info` with the trace. Command-line tools default to text, one
line per record with the ids appended in brackets. `KB_LOG_FORMAT` and `KB_LOG_LEVEL` choose;
entry points read them and call `configure_logging`, nothing else configures logging.

JSON comes from python-json-logger (a maintained formatter) rather than a hand-rolled encoder.
It lives in `store` for the reason `store.log_context` does: bot, knowledge and training entry
points all call it, and `store` is the one package all three may import.
"""

from __future__ import annotations

import logging
import sys
from typing import Final, TextIO

from pythonjsonlogger.json import JsonFormatter

from store.log_context import ID_FIELDS, IdsFilter

LOG_FORMATS: Final = ("json", "text")
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


class TextWithIds(logging.Formatter):
    """The classic text line, with the record's bound ids appended as `[event_id=… answer_id=…]`."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{name}={value}" for name in ID_FIELDS if (value := getattr(record, name, None)) is not None)
        if not ids:
            return line
        head, newline, trace = line.partition("\n")  # keep a trace below the line it belongs to
        return f"{head} [{ids}]{newline}{trace}"


def json_formatter() -> logging.Formatter:
    """One JSON object per record, with the field names this module's docstring lists."""
    return JsonFormatter(["levelname", "name", "message", "process", "threadName"],
                         rename_fields={"levelname": "level", "name": "logger", "threadName": "thread"},
                         timestamp="time", json_ensure_ascii=False)


def log_level(level: str) -> int:
    """The `logging` level named `level` (any case), or ValueError naming the accepted names."""
    name = level.strip().upper()
    if name not in LOG_LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LOG_LEVELS)}")
    return logging.getLevelNamesMapping()[name]


def configure_logging(format: str, level: str, *, stream: TextIO | None = None) -> logging.Handler:
    """Send every record at `level` or above to `stream` (stderr) as `format` ("json" or "text").

    Replaces the root logger's handlers, so calling it again (a test, a CLI group and its command)
    reconfigures rather than doubling each line. Returns the installed handler.

    Raises:
        ValueError: `format` or `level` is not one this module knows; the message lists the valid ones.
    """
    if format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {format!r}; expected one of {', '.join(LOG_FORMATS)}")
    numeric_level = log_level(level)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(IdsFilter())
    handler.setFormatter(json_formatter() if format == "json" else TextWithIds(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric_level)
    return handler
