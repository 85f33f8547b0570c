"""The model waits while questions wait for their evidence (one process; threading only).

An answer's first text is its quoted evidence, which must appear within a second; the summary the
model writes afterwards may take ten. Under a burst both run in one process: the Slack workers
preparing the next questions' evidence (Python, under the interpreter lock) and the threads writing
earlier answers' summaries (the model's decode steps, which hold the lock between kernels and keep
the cores busy). Lowering the summary threads' CPU priority did not help (KB_SUMMARY_NICE,
*Throughput under a burst*): the interpreter lock is not ordered by nice. So a generation here
*stops between tokens* while any question of this process is still waiting for its evidence, and
goes on when none is, for at most `max_pause_s` in all per generation (a summary must not starve
under a steady stream of questions; past the budget it runs as before).
"""

from __future__ import annotations

import threading
import time


class EvidenceFirst:
    """Counts questions waiting for their evidence; generations pause while there are any.

    Args:
        max_pause_s: the most one generation pauses in all (0 turns pausing off).
    """

    def __init__(self, *, max_pause_s: float = 5.0) -> None:
        if max_pause_s < 0:
            raise ValueError(f"max_pause_s must be at least 0, not {max_pause_s}")
        self.max_pause_s = max_pause_s
        self._waiting = 0
        self._condition = threading.Condition()

    @property
    def waiting(self) -> int:
        """Questions whose evidence is not shown yet."""
        with self._condition:
            return self._waiting

    def question(self) -> EvidenceTicket:
        """Count a question as waiting for its evidence until its ticket is `done` (once; later calls do nothing)."""
        with self._condition:
            self._waiting += 1
        return EvidenceTicket(self)

    def pauses(self) -> PauseBudget:
        """The pause budget of one generation (`max_pause_s` in all)."""
        return PauseBudget(self, self.max_pause_s)

    def _release(self) -> None:
        with self._condition:
            self._waiting -= 1
            self._condition.notify_all()

    def _wait_clear(self, timeout: float) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._waiting == 0, timeout=timeout)


class EvidenceTicket:
    """One question's place in the count of `EvidenceFirst`; `done` when its evidence is shown or it ended."""

    def __init__(self, owner: EvidenceFirst) -> None:
        self._owner: EvidenceFirst | None = owner
        self._lock = threading.Lock()

    def done(self) -> None:
        with self._lock:
            owner, self._owner = self._owner, None
        if owner is not None:
            owner._release()


class PauseBudget:
    """Pauses one generation while questions wait for their evidence, up to a total of seconds."""

    def __init__(self, owner: EvidenceFirst, seconds: float) -> None:
        self._owner = owner
        self.left_s = seconds
        self.paused_s = 0.0

    def pause(self) -> None:
        """Return at once when no question waits; otherwise when none does or the budget is spent."""
        if self.left_s <= 0 or self._owner.waiting == 0:
            return
        started = time.monotonic()
        self._owner._wait_clear(self.left_s)
        spent = time.monotonic() - started
        self.paused_s += spent
        self.left_s -= spent


NO_PAUSES = EvidenceFirst(max_pause_s=0.0)
"""For generators outside an answering process (training, benches): nothing ever pauses them."""

PROCESS_EVIDENCE_FIRST = EvidenceFirst()
"""The one a Slack answering process shares between its question workers and its model."""
