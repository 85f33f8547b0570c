"""Pacing for intermediate message edits: a per-message interval and a shared per-minute budget (pure).

`chat.update` is Tier 3 (about 50 calls a minute per workspace, shared by every answer being
written at once) and `chat.appendStream` Tier 4. Each answer edits its message at most once per
`interval_s`, and all answers together draw from one token bucket; when the bucket is empty the
intermediate edit is skipped (the final edit never is), so a burst of questions degrades to fewer
progress updates instead of 429s. An answer's first text (its quoted evidence) is never skipped
either: it `spend`s a token even from an empty bucket, and the later progress edits wait it back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]


class Throttle:
    """Allows an action at most once per `interval_s` (the first call is always allowed)."""

    def __init__(self, interval_s: float, *, clock: Clock = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._last: float | None = None

    def ready(self) -> bool:
        """Whether the interval has passed since the last `mark()`."""
        return self._last is None or self._clock() - self._last >= self.interval_s

    def mark(self) -> None:
        self._last = self._clock()


class RateBudget:
    """A thread-safe token bucket: `capacity` tokens, refilled at `per_minute` tokens a minute."""

    def __init__(self, *, per_minute: float, capacity: float | None = None, clock: Clock = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be > 0, got {per_minute}")
        self.per_minute = per_minute
        self.capacity = capacity if capacity is not None else max(1.0, per_minute / 4)
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def try_take(self) -> bool:
        """Take one token if there is one; never waits."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def spend(self) -> None:
        """Take one token even when none is left, for a call that must not be skipped: the balance may go
        negative, and `try_take` refuses until the refill has paid it all back, so a burst of such calls
        silences the skippable ones for as long as the rate says."""
        with self._lock:
            self._refill()
            self._tokens -= 1.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.per_minute / 60.0)
        self._updated = now
