"""Where a run is and how long it has left, on the run's record for `/kb status` (orch).

The pipeline marks phases (dataset, training, evaluating, publishing); during training the trainer's
log hook reports each logged step with its loss and ETA (see `training.trainer`). Writes are
throttled so a fast GPU run does not update the row many times a second; the last step is always
written. Training in `accelerate launch` subprocesses (which need no database) reports through a
small JSON file instead (`progress_file_writer` there, `read_progress_file` in the worker).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from store.run_claims import record_progress

logger = logging.getLogger(__name__)

STEP_FIELDS = ("step", "max_steps", "loss", "elapsed_s", "eta_s")


class RunProgress:
    """Writes a run's phase and training progress into `training_runs.progress`."""

    def __init__(self, sessions: sessionmaker[Session], run_id: int, *, min_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions = sessions
        self._run_id = run_id
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._last_write = float("-inf")
        self.state: dict[str, Any] = {}
        self._phase_started: tuple[str, float] | None = None
        self._phase_seconds: dict[str, float] = {}

    def phase(self, name: str) -> None:
        """Enter a phase; step figures of an earlier phase are dropped, its duration is kept."""
        self._phase_seconds = self._seconds_now()
        self._phase_started = (name, self._clock())
        self.state = {"phase": name}
        self._write(force=True)

    def phase_seconds(self) -> dict[str, float]:
        """Seconds spent in each phase so far (the current one up to now), for the run's metrics."""
        return {name: round(value, 1) for name, value in self._seconds_now().items()}

    def _seconds_now(self) -> dict[str, float]:
        seconds = dict(self._phase_seconds)
        if self._phase_started is not None:
            name, started = self._phase_started
            seconds[name] = seconds.get(name, 0.0) + self._clock() - started
        return seconds

    def step(self, logs: dict[str, Any]) -> None:
        """The trainer's progress hook: one logged step (`step`, `max_steps`, `loss`, `elapsed_s`, `eta_s`)."""
        figures = {key: logs[key] for key in STEP_FIELDS if isinstance(logs.get(key), int | float)}
        if "step" not in figures:
            return
        for key in ("step", "max_steps"):
            if key in figures:
                figures[key] = int(figures[key])
        self.state = {"phase": self.state.get("phase", "training"), **figures}
        self._write(force=figures.get("step") == figures.get("max_steps"))

    def _write(self, *, force: bool) -> None:
        now = self._clock()
        if not force and now - self._last_write < self._min_interval_s:
            return
        self._last_write = now
        try:
            with self._sessions() as session, session.begin():
                record_progress(session, self._run_id,
                                {**self.state, "updated_at": datetime.now(UTC).isoformat(timespec="seconds")})
        except SQLAlchemyError as exc:  # progress is for people; training goes on without it
            logger.warning("progress of run %d not recorded: %s", self._run_id, exc)


def progress_file_writer(path: Path) -> Callable[[dict[str, Any]], None]:
    """A trainer progress hook that replaces `path` with the step's figures (atomically, by rename)."""
    def write(logs: dict[str, Any]) -> None:
        figures = {key: logs[key] for key in STEP_FIELDS if isinstance(logs.get(key), int | float)}
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(figures))
        os.replace(partial, path)

    return write


def read_progress_file(path: Path) -> dict[str, Any] | None:
    """The figures a training subprocess last wrote, or None when there are none (yet)."""
    try:
        figures = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return figures if isinstance(figures, dict) else None
