"""Events of learned channels: threads marked for a rebuild, deleted messages and lost channels retired at once (orch).

Bolt runs only the first listener matching an event, and `questions` already listens to every
`message`; so a global middleware watches the events of learned channels on their way and lets them
continue: a new message, reply or edit marks its thread dirty (the bot's background task rebuilds
it once it settles, `knowledge.slack_threads_sync`); a reaction marks the thread it is in; a deleted
message retires its thread's document before the event is acknowledged, so it stops being
retrieved within that one delivery (the rest of the thread comes back with the rebuild); a root
deleted while it has replies arrives as a `message_changed` to a `tombstone` and is handled the
same way. The work is a few indexed statements, done in the request thread; a failure is logged
and the event still goes on to the other listeners.

`channel_deleted` / `group_deleted` and the bot leaving (`channel_left`, `group_left`, or
`member_left_channel` naming the bot) retire everything learned from the channel at once.

Which channels are learned is read from the database at most every `cache_ttl_s` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.deps import SlackDeps
from knowledge.slack_threads_sync import channel_gone, message_deleted, thread_changed
from store.learned_channels import active_channel_ids, thread_of_message

logger = logging.getLogger(__name__)

PEOPLE_SUBTYPES = frozenset({None, "thread_broadcast", "file_share", "me_message"})
CHANNEL_DELETED = ("channel_deleted", "group_deleted")
BOT_LEFT = ("channel_left", "group_left")


class LearnedChannels:
    """The ids of the channels being learned, re-read at most every `ttl_s` seconds."""

    def __init__(self, sessions: sessionmaker[Session], *, ttl_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions = sessions
        self._ttl_s = ttl_s
        self._clock = clock
        self._ids: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def __contains__(self, channel: object) -> bool:
        with self._lock:
            stale = self._read_at is None or self._clock() - self._read_at >= self._ttl_s
        if stale:
            with self._sessions() as session:
                ids = active_channel_ids(session)
            with self._lock:
                self._ids, self._read_at = ids, self._clock()
        return channel in self._ids


def on_message(sessions: sessionmaker[Session], event: dict[str, Any]) -> str | None:
    """Apply a `message` event of a learned channel; returns what was done (for logs and tests)."""
    channel, subtype = event["channel"], event.get("subtype")
    if subtype == "message_deleted":
        previous = event.get("previous_message") or {}
        if previous.get("bot_id"):  # a bot's message (the bot's own answers too) was never learned
            return None
        message_deleted(sessions, channel, str(event["deleted_ts"]), previous.get("thread_ts"))
        return "retired"
    if subtype == "message_changed":
        message = event.get("message") or {}
        thread = message.get("thread_ts") or message.get("ts")
        if not thread:
            return None
        if message.get("subtype") == "tombstone":  # a root with replies was deleted
            message_deleted(sessions, channel, str(message["ts"]), str(thread))
            return "retired"
        if message.get("bot_id") or not message.get("user"):  # e.g. the bot writing its streamed answer
            return None
        thread_changed(sessions, channel, str(thread))
        return "changed"
    if subtype not in PEOPLE_SUBTYPES or event.get("bot_id") or not event.get("user"):
        return None
    thread_changed(sessions, channel, str(event.get("thread_ts") or event["ts"]))
    return "changed"


def on_reaction(sessions: sessionmaker[Session], event: dict[str, Any]) -> str | None:
    """A reaction on a learned thread's message: rebuild the thread (its ✅ mark may have changed)."""
    item = event.get("item") or {}
    if item.get("type") != "message":
        return None
    with sessions() as session:
        thread = thread_of_message(session, str(item["channel"]), str(item["ts"]))
    if thread is None:
        return None
    thread_changed(sessions, str(item["channel"]), thread)
    return "changed"


def learned_events_middleware(deps: SlackDeps, learned: LearnedChannels) -> Callable[..., Any]:
    """A global Bolt middleware applying learned channels' events, then passing every request on."""

    def observe(body: dict[str, Any], next: Callable[[], Any]) -> Any:  # noqa: A002 (Bolt's argument name)
        event = body.get("event") if body.get("type") == "event_callback" else None
        if isinstance(event, dict):
            try:
                if event.get("type") == "message" and event.get("channel") in learned:
                    on_message(deps.sessions, event)
                elif event.get("type") in ("reaction_added", "reaction_removed") and \
                        (event.get("item") or {}).get("channel") in learned:
                    on_reaction(deps.sessions, event)
            except Exception:
                logger.exception("applying a %s event of a learned channel failed", event.get("type"))
        return next()

    return observe


def register(app: App, deps: SlackDeps, *, cache_ttl_s: float = 2.0) -> LearnedChannels:
    """Attach the middleware and the channel lifecycle listeners; returns the learned-channels cache."""
    learned = LearnedChannels(deps.sessions, ttl_s=cache_ttl_s)
    app.middleware(learned_events_middleware(deps, learned))

    def retire(channel: str | None, status: str) -> None:
        if not channel:
            return
        try:
            retired = channel_gone(deps.sessions, channel, status=status)
        except Exception:
            logger.exception("retiring learned channel %s (%s) failed", channel, status)
            return
        if retired:
            logger.info("learned channel %s %s: %d threads retired", channel, status, retired)

    def on_deleted(event: dict[str, Any]) -> None:
        retire(event.get("channel"), "deleted")

    def on_left(event: dict[str, Any]) -> None:
        retire(event.get("channel"), "left")

    def on_member_left(event: dict[str, Any], context: BoltContext) -> None:
        if event.get("user") and event.get("user") == context.bot_user_id:
            retire(event.get("channel"), "left")

    for name in CHANNEL_DELETED:
        app.event(name)(on_deleted)
    for name in BOT_LEFT:
        app.event(name)(on_left)
    app.event("member_left_channel")(on_member_left)
    return learned
