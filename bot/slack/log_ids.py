"""Binds the Slack event id to everything logged while an event is dispatched (adapter: Bolt middleware).

Registered first among the app's global middleware, so the dedupe middleware's "dropped duplicate
delivery" line, the listener, and the answer the listener queues on the work pool all log the same
`event_id`: Bolt runs listeners on its listener executor and the bot queues answers on its work
pool, and both (`bot.slack.work.BackgroundWork`) run jobs in a copy of the submitter's context.

Bolt calls listeners after every middleware has returned, so the id cannot be unbound when `next()`
returns; instead every dispatch binds it, None for payloads that are not events, and a request
thread reused by gunicorn or the Socket Mode client never lends one request's id to the next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from store.log_context import bind_ids


def event_log_ids(body: dict[str, Any], next: Callable[[], Any]) -> Any:
    """Bolt global middleware: bind this payload's `event_id` (None when it is not an event), then go on."""
    event_id = body.get("event_id") if body.get("type") == "event_callback" else None
    bind_ids(event_id=event_id if isinstance(event_id, str) and event_id else None)
    return next()
