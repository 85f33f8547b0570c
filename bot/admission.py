"""A bounded admission gate for model calls (pure: threading only, no IO).

A model on 2 CPU cores produces ~10 tokens/s; letting every Slack question queue behind it would
turn a burst into minutes of silence. The gate lets `max_concurrent` calls run, lets `max_waiting`
more wait in FIFO order, and refuses the rest at once with `GeneratorBusy`, which the bot can show.
A waiter whose cancel event fires, or whose deadline passes, leaves the line.

`exclusive()` is for adapter switches: it waits for running calls to finish, holds new ones back,
and is not subject to the waiting limit.

Each change of the running and waiting counts, and each refusal, is reported to `bot.metrics`
(a process runs one generator, hence one gate, so the gauges are that gate's).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from bot import metrics
from bot.generator_protocol import GeneratorBusy

_POLL_S = 0.05
"""How often a waiter re-checks its cancel event (a threading.Event cannot wake a Condition)."""

BUSY_MESSAGE = "The model is busy answering other questions right now; please try again in a minute."


class Cancelled(Exception):
    """The caller's cancel event fired while it waited for a slot (never escapes the generators)."""


class AdmissionGate:
    """At most `max_concurrent` holders, at most `max_waiting` waiters, FIFO between them."""

    def __init__(self, *, max_concurrent: int = 1, max_waiting: int = 8) -> None:
        if max_concurrent < 1 or max_waiting < 0:
            raise ValueError("max_concurrent must be >= 1 and max_waiting >= 0")
        self._max_concurrent = max_concurrent
        self._max_waiting = max_waiting
        self._condition = threading.Condition()
        self._running = 0
        self._line: deque[object] = deque()
        self._exclusive_wanted = 0
        self._exclusive_held = False

    @property
    def running(self) -> int:
        """Calls holding a slot now."""
        with self._condition:
            return self._running

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot now."""
        with self._condition:
            return len(self._line)

    @contextmanager
    def admit(
        self, *, cancel: threading.Event | None = None, deadline: float | None = None
    ) -> Iterator[None]:
        """Hold one slot for the body of the `with`.

        Args:
            cancel: leaving the line early when set raises `Cancelled`.
            deadline: a `time.monotonic()` value; still waiting then raises `GeneratorBusy`.

        Raises:
            GeneratorBusy: the line is full, or the deadline passed while waiting.
            Cancelled: `cancel` was set while waiting.
        """
        ticket = object()
        with self._condition:
            if not self._free_for(None) or self._line:
                if len(self._line) >= self._max_waiting:
                    metrics.ADMISSION_BUSY.inc()
                    raise GeneratorBusy(BUSY_MESSAGE)
                self._line.append(ticket)
                self._report()
                try:
                    while not self._free_for(ticket):
                        if cancel is not None and cancel.is_set():
                            raise Cancelled
                        remaining = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
                        if remaining <= 0:
                            metrics.ADMISSION_BUSY.inc()
                            raise GeneratorBusy(BUSY_MESSAGE)
                        self._condition.wait(remaining)
                finally:
                    self._line.remove(ticket)
                    self._report()
                    self._condition.notify_all()  # the next in line may now be at the head
            self._running += 1
            self._report()
        try:
            yield
        finally:
            with self._condition:
                self._running -= 1
                self._report()
                self._condition.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the whole gate: wait for running calls to end and keep new ones out meanwhile."""
        with self._condition:
            self._exclusive_wanted += 1
            try:
                self._condition.wait_for(lambda: self._running == 0 and not self._exclusive_held)
            finally:
                self._exclusive_wanted -= 1
            self._exclusive_held = True
        try:
            yield
        finally:
            with self._condition:
                self._exclusive_held = False
                self._condition.notify_all()

    def _report(self) -> None:
        """Tell `bot.metrics` the counts (called with the condition held, so they are consistent)."""
        metrics.set_admission(running=self._running, waiting=len(self._line))

    def _free_for(self, ticket: object | None) -> bool:
        """Whether a slot is free for `ticket` (None: a newcomer who would not have to queue)."""
        if self._exclusive_held or self._exclusive_wanted or self._running >= self._max_concurrent:
            return False
        return ticket is None or (bool(self._line) and self._line[0] is ticket)
