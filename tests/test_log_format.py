"""Log lines: JSON objects or text, carrying the ids bound where they exist; bad settings named."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from store.log_context import bind_ids, bound_ids, current_ids
from store.log_format import configure_logging


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_bound_ids_extras_and_the_trace() -> None:
    buffer = io.StringIO()
    configure_logging("json", "info", stream=buffer)
    log = logging.getLogger("kb.test")
    with bound_ids(event_id="Ev1", answer_id=7):
        log.info("answered %s", "C1/1.2", extra={"outcome": "answered"})
        with bound_ids(answer_id=8):
            log.warning("nested")
        log.debug("below the level")
    log.info("after")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    first, nested, after, failed = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert first["message"] == "answered C1/1.2" and first["outcome"] == "answered"
    assert (first["event_id"], first["answer_id"], first["level"], first["logger"]) == ("Ev1", 7, "INFO", "kb.test")
    assert {"time", "process", "thread"} <= set(first) and first["time"].endswith("+00:00")
    assert (nested["answer_id"], nested["event_id"]) == (8, "Ev1")
    assert "answer_id" not in after and "event_id" not in after, "ids end with their block"
    assert "RuntimeError: boom" in failed["exc_info"]


def test_text_lines_append_the_ids_and_reconfiguring_does_not_double_lines() -> None:
    buffer = io.StringIO()
    configure_logging("text", "DEBUG", stream=buffer)
    configure_logging("text", "DEBUG", stream=buffer)
    with bound_ids(run_id=3, adapter_id=5):
        logging.getLogger("kb.test").debug("training")
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("DEBUG kb.test: training [run_id=3 adapter_id=5]")


def test_ids_bound_in_one_thread_are_not_seen_in_another() -> None:
    seen: list[dict[str, int | str]] = []
    bind_ids(run_id=1)
    try:
        thread = threading.Thread(target=lambda: seen.append(current_ids()))
        thread.start()
        thread.join()
        assert current_ids() == {"run_id": 1} and seen == [{}]
    finally:
        bind_ids(run_id=None)


def test_bad_settings_and_unknown_ids_are_refused_with_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="unknown log format 'yaml'; expected one of json, text"):
        configure_logging("yaml", "INFO")
    with pytest.raises(ValueError, match="unknown log level 'LOUD'; expected one of DEBUG, INFO, WARNING"):
        configure_logging("json", "LOUD")
    with pytest.raises(ValueError, match="unknown log id"), bound_ids(user_id="U1"):
        pass


def test_entry_points_leave_a_root_logger_configured_by_someone_else_alone() -> None:
    from store.config import LoggingSettings
    from store.log_format import HANDLER_NAME, configure_for_process, configure_from_settings

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    installed = configure_from_settings(LoggingSettings(), server=True)
    assert installed is not None and isinstance(installed.formatter, logging.Formatter)
    assert type(installed.formatter).__name__ == "JsonFormatter", "a server logs JSON unless told otherwise"
    assert configure_for_process(server=False, argv=["kb", "add", "--help"]) is None, "help reads no settings"
    again = configure_for_process(server=False, argv=["kb", "add", "x.md"])
    assert again is not None and type(again.formatter).__name__ == "TextWithIds" and root.level == logging.INFO
    assert [h.get_name() for h in root.handlers] == [HANDLER_NAME], "replaced, not doubled"
    foreign = logging.StreamHandler(io.StringIO())
    root.addHandler(foreign)
    assert configure_from_settings(LoggingSettings(), server=True) is None
    assert foreign in root.handlers
