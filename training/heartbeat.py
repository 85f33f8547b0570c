"""A background thread that keeps a running run's `heartbeat_at` fresh (orch).

Training steps can take minutes on a CPU and the trainer reports nothing in between, so the worker
says "still alive" on its own clock. `/kb status` shows the heartbeat's age next to whether the
run's owner still holds its lock (`store.run_locks`): a growing age with a held lock means a
hung worker; a freed lock means a dead one, which the next poll or request fails.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from store.run_claims import record_heartbeat

logger = logging.getLogger(__name__)


class Heartbeat:
    """Refresh run `run_id`'s heartbeat every `interval_s` seconds while the `with` block runs."""

    def __init__(self, sessions: sessionmaker[Session], run_id: int, *, interval_s: float) -> None:
        self._sessions = sessions
        self._run_id = run_id
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"run-{run_id}-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                with self._sessions() as session, session.begin():
                    running = record_heartbeat(session, self._run_id)
                if not running:
                    return  # the run finished (or was failed by someone else): nothing left to vouch for
            except SQLAlchemyError as exc:  # a database blip must not kill training; the next beat retries
                logger.warning("heartbeat of run %d not recorded: %s", self._run_id, exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval_s + 5)
