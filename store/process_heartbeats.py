"""Which processes run and what each really serves: the `process_heartbeats` table (store).

Every web, socket and worker process inserts one row when it starts and refreshes it every
`BEAT_INTERVAL_S`: the adapter its generator actually serves (not the one the registry wants: a
deployment that failed to load, or a process that has not caught up yet, shows here), the sha256
the registry recorded for that adapter's files, and its base model. `/kb status` reads the rows
refreshed within `LIVE_WITHIN_S`; older ones belong to processes that died without saying so and
are purged after `PURGE_AFTER_S`. Timestamps are the database's `now()`, so hosts' clocks do not
matter.

The store functions take a `Session` and leave the transaction to the caller. `HeartbeatWriter`
is the thread every process kind runs; it sits beside the table rather than in `bot` or
`training` because both run it and neither may import the other.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.selectable import ScalarSelect

from store.schema import Adapter, ProcessHeartbeat

logger = logging.getLogger(__name__)

ProcessKind = Literal["web", "socket", "worker"]
PROCESS_KINDS: tuple[ProcessKind, ...] = ("web", "socket", "worker")
BEAT_INTERVAL_S = 15.0
LIVE_WITHIN_S = 60.0
"""A row refreshed less recently than this is a dead process's (four missed beats)."""
PURGE_AFTER_S = 24 * 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Served:
    """What a process serves now: the adapter (None and "base": the base model alone) and the model."""

    adapter_id: int | None
    adapter_name: str | None
    model: str
    ranking_model: str | None = None
    """The ranking model's name it ranks passages with (None: none, or a worker)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessRecord:
    """One live process as its last heartbeat described it."""

    id: int
    kind: str
    host: str
    pid: int
    adapter_id: int | None
    adapter_name: str | None
    adapter_sha256: str | None
    model: str
    started_at: datetime
    last_seen: datetime
    ranking_model: str | None = None


def _sha_of(adapter_id: int | None) -> ScalarSelect[str | None]:
    return select(Adapter.sha256).where(Adapter.id == adapter_id).scalar_subquery()


def register_process(session: Session, *, kind: ProcessKind, served: Served, host: str | None = None,
                     pid: int | None = None) -> int:
    """Insert this process's row (started and seen now) and return its id.

    Raises:
        ValueError: `kind` is not one of PROCESS_KINDS.
    """
    if kind not in PROCESS_KINDS:
        raise ValueError(f"unknown process kind {kind!r}; expected one of {', '.join(PROCESS_KINDS)}")
    return session.execute(insert(ProcessHeartbeat).values(
        kind=kind, host=host or socket.gethostname(), pid=os.getpid() if pid is None else pid,
        adapter_id=served.adapter_id, adapter_name=served.adapter_name, adapter_sha256=_sha_of(served.adapter_id),
        model=served.model, ranking_model=served.ranking_model, started_at=func.now(), last_seen=func.now(),
    ).returning(ProcessHeartbeat.id)).scalar_one()


def record_beat(session: Session, process_id: int, served: Served) -> bool:
    """Refresh row `process_id` with what is served now; False when the row is gone (purged)."""
    result = session.execute(update(ProcessHeartbeat).where(ProcessHeartbeat.id == process_id).values(
        adapter_id=served.adapter_id, adapter_name=served.adapter_name, adapter_sha256=_sha_of(served.adapter_id),
        model=served.model, ranking_model=served.ranking_model, last_seen=func.now()))
    return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE


def unregister_process(session: Session, process_id: int) -> None:
    """Delete row `process_id` (a process stopping cleanly)."""
    session.execute(delete(ProcessHeartbeat).where(ProcessHeartbeat.id == process_id))


def live_processes(session: Session, *, within_s: float = LIVE_WITHIN_S) -> list[ProcessRecord]:
    """Processes whose row was refreshed within `within_s`, by kind, host and pid."""
    rows = session.scalars(select(ProcessHeartbeat)
                           .where(ProcessHeartbeat.last_seen >= func.now() - text("make_interval(secs => :s)")
                                  .bindparams(s=within_s))
                           .order_by(ProcessHeartbeat.kind, ProcessHeartbeat.host, ProcessHeartbeat.pid))
    return [ProcessRecord(id=row.id, kind=row.kind, host=row.host, pid=row.pid, adapter_id=row.adapter_id,
                          adapter_name=row.adapter_name, adapter_sha256=row.adapter_sha256, model=row.model,
                          started_at=row.started_at, last_seen=row.last_seen, ranking_model=row.ranking_model)
            for row in rows]


def purge_dead_processes(session: Session, *, older_than_s: float = PURGE_AFTER_S) -> int:
    """Delete rows not refreshed for `older_than_s`; returns how many."""
    result = session.execute(delete(ProcessHeartbeat).where(
        ProcessHeartbeat.last_seen < func.now() - text("make_interval(secs => :s)").bindparams(s=older_than_s)))
    return int(result.rowcount)  # type: ignore[attr-defined]


class HeartbeatWriter:
    """Keeps this process's row fresh from a daemon thread, from `start()` until `stop()`.

    Args:
        sessions: sessions on the product database (each beat is its own short transaction).
        kind: what this process is.
        served: called at every beat for what the process serves now.
        interval_s: seconds between beats.
    """

    def __init__(self, sessions: sessionmaker[Session], *, kind: ProcessKind, served: Callable[[], Served],
                 interval_s: float = BEAT_INTERVAL_S) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        if kind not in PROCESS_KINDS:
            raise ValueError(f"unknown process kind {kind!r}; expected one of {', '.join(PROCESS_KINDS)}")
        self._sessions = sessions
        self._kind: ProcessKind = kind
        self._served = served
        self._interval_s = interval_s
        self._process_id: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"kb-{kind}-heartbeat", daemon=True)

    @property
    def process_id(self) -> int | None:
        """This process's row, once written."""
        return self._process_id

    def start(self) -> HeartbeatWriter:
        """Write the row now (so status shows the process at once), then refresh it from a thread."""
        self.beat_once()
        self._thread.start()
        return self

    def beat_once(self) -> None:
        """Insert or refresh the row, and purge long-dead rows; a database error is logged, not raised."""
        try:
            served = self._served()
            with self._sessions.begin() as session:
                if self._process_id is None or not record_beat(session, self._process_id, served):
                    self._process_id = register_process(session, kind=self._kind, served=served)
                purge_dead_processes(session)
        except SQLAlchemyError as exc:  # a database blip must not end the process; the next beat retries
            logger.warning("process heartbeat not recorded: %s", exc)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.beat_once()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop beating and delete the row, so status stops listing this process at once."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self._process_id is None:
            return
        try:
            with self._sessions.begin() as session:
                unregister_process(session, self._process_id)
        except SQLAlchemyError as exc:
            logger.warning("process heartbeat row %d not removed (it will age out): %s", self._process_id, exc)
