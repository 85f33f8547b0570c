"""A daemon thread that runs one callable every few seconds until stopped (orch: threading only).

Used for the training-run reporter and the purge of old delivery claims. A failing run is logged
and the loop goes on: a database blip must not end reporting for the life of the process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class PeriodicTask:
    """Calls `fn()` every `interval_s` seconds on a daemon thread named `name`."""

    def __init__(self, name: str, interval_s: float, fn: Callable[[], object]) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.name = name
        self.interval_s = interval_s
        self._fn = fn
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> PeriodicTask:
        self._thread.start()
        return self

    def run_once(self) -> None:
        try:
            self._fn()
        except Exception:
            logger.exception("periodic task %s failed; trying again in %.0f s", self.name, self.interval_s)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.run_once()

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
