"""Binds the Slack event id to everything logged while an event is dispatched (adapter: Bolt middleware).

Registered first among the app's global middleware, so the dedupe middleware's "dropped duplicate
delivery" line, the listener, and the answer the listener queues on the work pool (which runs jobs
in a copy of the submitter's context, see `bot.slack.work`) all log the same `event_id`. The id is
unbound again when dispatch returns: gunicorn reuses request threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from store.log_context import bound_ids


def event_log_ids(body: dict[str, Any], next: Callable[[], Any]) -> Any:
    """Bolt global middleware: dispatch with `event_id` bound when the payload is an event."""
    event_id = body.get("event_id") if body.get("type") == "event_callback" else None
    if not isinstance(event_id, str) or not event_id:
        return next()
    with bound_ids(event_id=event_id):
        return next()
