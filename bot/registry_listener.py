"""Follows a registry table from a daemon thread: LISTEN on its NOTIFY channel, and poll (orch).

Both registries of what a serving process uses (the LoRA adapter, `store.adapter_registry`; the
ranking model, `store.ranking_registry`) are logs whose inserts NOTIFY a channel. A follower re-reads
its registry on every notification and also every `poll_interval_s`, so a notification lost to a
dropped connection still converges; after a connection error it reconnects with backoff and keeps
polling meanwhile. A failing sync is logged, never fatal: a follower that died silently would pin a
stale model forever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

_NOTIFY_WAIT_S = 1.0
"""Longest block inside `notifies()`, which bounds how long `stop()` takes."""


class RegistryListener:
    """Calls `sync` on every notification on `channel` and every `poll_interval_s`, from a daemon thread.

    Args:
        session_factory: sessions on the product database (its engine's URL is LISTENed on).
        channel: the NOTIFY channel the registry's insert trigger uses.
        sync: reads the registry and applies what it says (raises on failure).
        poll_interval_s: call `sync` at least this often, notification or not.
        listen_url: libpq URL for LISTEN; default: the session factory's engine URL.
        name: the thread's name, also in the log lines.
    """

    def __init__(self, session_factory: sessionmaker[Session], *, channel: str, sync: Callable[[], object],
                 poll_interval_s: float, listen_url: str | None = None, name: str) -> None:
        self._sessions = session_factory
        self._channel = channel
        self._sync = sync
        self.poll_interval_s = poll_interval_s
        self._listen_url = listen_url
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._synced_at: float | None = None  # monotonic time of the last sync that succeeded

    def mark_synced(self) -> None:
        """Record that the registry was just read (a sync run outside the thread counts too)."""
        self._synced_at = time.monotonic()

    def synced_ago_s(self) -> float | None:
        """Seconds since the registry was last read successfully; None if it never was."""
        return None if self._synced_at is None else time.monotonic() - self._synced_at

    def alive(self) -> bool:
        """Whether the following thread runs (False before `start()` and after `stop()`)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Sync once now, then follow from a daemon thread until `stop()`."""
        if self._thread is not None:
            return
        self.safe_sync()
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (within about a second) and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def safe_sync(self) -> None:
        """`sync`, with a failure logged instead of raised."""
        try:
            self._sync()
        except Exception:
            logger.exception("%s could not sync", self._name)
            return
        self.mark_synced()

    def _follow(self) -> None:
        """Thread body: LISTEN, sync on every notification or poll tick; reconnect after errors."""
        backoff_s = 1.0
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._libpq_url(), autocommit=True) as connection:
                    connection.execute(f"LISTEN {self._channel}")
                    self.safe_sync()  # anything that changed before LISTEN took effect
                    backoff_s = 1.0
                    next_poll = time.monotonic() + self.poll_interval_s
                    while not self._stop.is_set():
                        wait_s = max(0.0, min(_NOTIFY_WAIT_S, next_poll - time.monotonic()))
                        notified = any(True for _ in connection.notifies(timeout=wait_s, stop_after=1))
                        if notified or time.monotonic() >= next_poll:
                            self.safe_sync()
                            next_poll = time.monotonic() + self.poll_interval_s
            except Exception as exc:  # keep following: the poll below still converges meanwhile
                logger.warning("%s lost its database connection (%s); retrying", self._name, exc)
                self._stop.wait(min(backoff_s, self.poll_interval_s))
                backoff_s = min(backoff_s * 2, 30.0)
                self.safe_sync()

    def _libpq_url(self) -> str:
        if self._listen_url:
            return self._listen_url
        engine = self._sessions.kw.get("bind")
        if not isinstance(engine, Engine):
            raise ValueError("pass listen_url: the session factory is not bound to an engine")
        return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
