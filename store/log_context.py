"""Ids that tie a log line to what it is about: answer, Slack event, training run, adapter (pure).

The code that knows an id binds it for the duration of its work (`bound_ids`) or from then on in
the current context (`bind_ids`): the Slack event dispatch binds the event id, the answer flow the
answer id once it is recorded, the training-run claim the run id, the adapter follower the adapter
it applies. `IdsFilter`, installed on the log handler by `store.log_format`, copies whatever is
bound onto every record, so a `logger.info(...)` anywhere below carries them without passing ids
around.

The values live in `contextvars`, so threads do not see each other's ids; work handed to another
thread keeps them only when it runs in a copy of the submitter's context (`bot.slack.work` does).

This lives in `store` because every process kind needs it and `store` is what bot, knowledge and
training may all import (and `store.run_claims`, where a run is claimed, binds the run id).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

ID_FIELDS = ("answer_id", "event_id", "run_id", "adapter_id")
"""The record attributes (and JSON keys) a bound id appears under."""

_VARS: dict[str, ContextVar[int | str | None]] = {name: ContextVar(f"kb_{name}", default=None)
                                                  for name in ID_FIELDS}


def _checked(ids: dict[str, int | str | None]) -> dict[str, int | str | None]:
    unknown = sorted(set(ids) - set(ID_FIELDS))
    if unknown:
        raise ValueError(f"unknown log id(s) {', '.join(unknown)}; expected some of {', '.join(ID_FIELDS)}")
    return ids


def bind_ids(**ids: int | str | None) -> None:
    """Bind `ids` (e.g. `answer_id=12`) in the current context from now on; None unbinds one."""
    for name, value in _checked(ids).items():
        _VARS[name].set(value)


@contextmanager
def bound_ids(**ids: int | str | None) -> Iterator[None]:
    """Bind `ids` while the `with` block runs, then restore what was bound before."""
    tokens: list[tuple[str, Token[int | str | None]]] = [(name, _VARS[name].set(value))
                                                         for name, value in _checked(ids).items()]
    try:
        yield
    finally:
        for name, token in reversed(tokens):
            _VARS[name].reset(token)


def current_ids() -> dict[str, int | str]:
    """The ids bound in the current context (unbound ones left out)."""
    return {name: value for name, var in _VARS.items() if (value := var.get()) is not None}


class IdsFilter(logging.Filter):
    """Adds the bound ids to each record as attributes; an id passed in `extra=` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_ids().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
