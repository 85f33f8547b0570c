"""Exactly-once handling of Slack deliveries across processes (adapter over store.slack_events).

Two keys, both claimed in Postgres so every gunicorn worker and Socket Mode process agrees:

* `event:<event_id>` in a global middleware: a retried delivery (X-Slack-Retry-Num) of an event
  some process already took is acked with an empty 200 and dropped before any listener runs;
* `msg:<channel>:<ts>` by the question listeners: one message can arrive as `app_mention` *and*
  `message.channels`/`message.im` (different event ids), and must still get one answer.
  `file:<channel>:<file id>` does the same for `file_shared` + a `message` carrying the file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltResponse
from sqlalchemy.orm import Session, sessionmaker

from store.slack_events import claim_event, finish_event

logger = logging.getLogger(__name__)


def message_key(channel: str, ts: str) -> str:
    return f"msg:{channel}:{ts}"


def file_key(channel: str, file_id: str) -> str:
    return f"file:{channel}:{file_id}"


def claim(sessions: sessionmaker[Session], key: str) -> bool:
    """True when this process now owns `key`; the claim is committed before this returns, so before the work."""
    with sessions() as session, session.begin():
        return claim_event(session, key)


def finish(sessions: sessionmaker[Session], *keys: str) -> None:
    """Mark `keys` handled for good (never taken over as stale claims), in one transaction; failures are only
    logged."""
    if not keys:
        return
    try:
        with sessions() as session, session.begin():
            finish_event(session, *keys)
    except Exception:
        logger.exception("could not mark %s done", ", ".join(keys))


def event_dedupe_middleware(sessions: sessionmaker[Session]) -> Callable[..., Any]:
    """A Bolt global middleware dropping deliveries of an event id that was already claimed."""

    def dedupe_events(body: dict[str, Any], context: BoltContext, request: Any,
                      next: Callable[[], Any]) -> Any:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            key = f"event:{event_id}"
            if not claim(sessions, key):
                retry = (request.headers.get("x-slack-retry-num") or ["0"])[0]
                logger.info("dropped duplicate delivery of %s (retry %s)", event_id, retry)
                return BoltResponse(status=200, body="")
            context["event_key"] = key
        return next()

    return dedupe_events
