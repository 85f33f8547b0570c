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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, TextIO

from pythonjsonlogger.json import JsonFormatter

from store.log_context import ID_FIELDS, IdsFilter

if TYPE_CHECKING:
    from store.config import LoggingSettings

LOG_FORMATS: Final = ("json", "text")
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
HANDLER_NAME = "kb-log"


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

    Replaces the handler an earlier call installed, so calling it again reconfigures rather than
    doubling each line; handlers others installed (a test runner's capture) stay. Returns the new
    handler.

    Raises:
        ValueError: `format` or `level` is not one this module knows; the message lists the valid ones.
    """
    if format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {format!r}; expected one of {', '.join(LOG_FORMATS)}")
    numeric_level = log_level(level)
    handler = logging.StreamHandler(stream) if stream is not None else CurrentStderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.addFilter(IdsFilter())
    handler.setFormatter(json_formatter() if format == "json" else TextWithIds(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric_level)
    return handler


class CurrentStderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a record is emitted, not the one there at set-up
    (click's test runner and pytest swap it, and close the one they swapped in)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current stderr


def configure_from_settings(settings: LoggingSettings, *, server: bool,
                            default_level: str = "INFO") -> logging.Handler | None:
    """`configure_logging` as the environment asks: KB_LOG_FORMAT, else JSON for a server (the Slack
    web and socket processes, the training worker) and text for a command; KB_LOG_LEVEL when set,
    else `default_level` (commands pass WARNING unless -v, so their output stays readable).

    Like `logging.basicConfig`, it leaves logging alone (and returns None) when something else
    already gave the root logger a handler: a test runner capturing logs, a host application.
    """
    root = logging.getLogger()
    if any(handler.get_name() != HANDLER_NAME for handler in root.handlers):
        return None
    level = settings.level if "level" in settings.model_fields_set else default_level
    return configure_logging(settings.format or ("json" if server else "text"), level)


HELP_OPTIONS = frozenset({"--help", "-h"})


def configure_for_process(*, server: bool, default_level: str = "INFO",
                          argv: Sequence[str] | None = None) -> logging.Handler | None:
    """For a command-line group's callback: read the logging settings and `configure_from_settings`,
    unless the command line only asks for help (`--help`, `-h` in `argv`, default `sys.argv`): help
    must stay fast (reading the settings imports pydantic-settings, ~0.5 s on a loaded CPU) and click
    runs a group's callback before its subcommand shows help.

    Raises:
        store.config.ConfigError: KB_LOG_FORMAT or KB_LOG_LEVEL holds a value the settings refuse.
    """
    if HELP_OPTIONS & set(sys.argv[1:] if argv is None else argv):
        return None
    from store.config import LoggingSettings

    return configure_from_settings(LoggingSettings(), server=server, default_level=default_level)
