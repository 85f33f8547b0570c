"""The model, and shown answers' bookkeeping, wait while questions wait for their evidence (threading).

An answer's first text is its quoted evidence, which must appear within a second; the summary the
model writes afterwards may take ten. Under a burst both run in one process: the Slack workers
preparing the next questions' evidence (Python, under the interpreter lock) and the threads writing
earlier answers' summaries (the model's decode steps, which hold the lock between kernels and keep
the cores busy). Lowering the summary threads' CPU priority did not help (KB_SUMMARY_NICE,
*Throughput under a burst*): the interpreter lock is not ordered by nice. So a generation here
*stops before each forward pass* (before its prompt and between tokens; bot/generation.py's hook on
the decoder) while any question of this process is still waiting for its evidence, and goes on when
none is, for at most `max_pause_s` in all per generation (a summary must not starve
under a steady stream of questions; past the budget it runs as before). Work on answers already
shown that can come later (their record and final blocks, bot/slack/answer_flow.py) waits the same
way, until `max_pause_s` after it was put off (`deadline`, `wait_before`).

The web server runs several processes on one host's cores (gunicorn workers), so one process's
model also pauses for its siblings' waiting questions when they share a folder (`SharedCounts`: one
small file per process holding its count, read while a generation would pause; a file of a process
that is gone, or not rewritten for a minute, counts for nothing).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

_COUNT_WIDTH = 12
"""Characters of a count file: a count right-aligned in a fixed width, so rewriting it never truncates."""
SIBLING_POLL_S = 0.01
"""How often a paused generation re-reads the sibling processes' counts (its own wake it at once)."""


class EvidenceFirst:
    """Counts questions waiting for their evidence; generations pause while there are any.

    Args:
        max_pause_s: the most one generation pauses in all (0 turns pausing off).
    """

    def __init__(self, *, max_pause_s: float = 5.0, siblings: SharedCounts | None = None) -> None:
        if max_pause_s < 0:
            raise ValueError(f"max_pause_s must be at least 0, not {max_pause_s}")
        self.max_pause_s = max_pause_s
        self._waiting = 0
        self._condition = threading.Condition()
        self._siblings = siblings

    @property
    def waiting(self) -> int:
        """Questions whose evidence is not shown yet."""
        with self._condition:
            return self._waiting

    def waiting_anywhere(self) -> int:
        """Questions waiting for their evidence here and in the sibling processes."""
        with self._condition:
            return self._waiting + (self._siblings.others() if self._siblings is not None else 0)

    def anyone_waiting(self) -> bool:
        """Whether a question waits for its evidence here or in a sibling process."""
        with self._condition:
            return self._anyone_waiting_locked()

    def _anyone_waiting_locked(self) -> bool:
        """Whether a question waits here or in a sibling (the siblings' files read only when none here does)."""
        return self._waiting > 0 or (self._siblings is not None and self._siblings.others() > 0)

    def question(self) -> EvidenceTicket:
        """Count a question as waiting for its evidence until its ticket is `done` (once; later calls do nothing)."""
        with self._condition:
            self._waiting += 1
            if self._siblings is not None:
                self._siblings.publish(self._waiting)
        return EvidenceTicket(self)

    def pauses(self) -> PauseBudget:
        """The pause budget of one generation (`max_pause_s` in all)."""
        return PauseBudget(self, self.max_pause_s)

    def deadline(self) -> float:
        """The `time.monotonic()` until which work put off now may wait for others' evidence (`wait_before`)."""
        return time.monotonic() + self.max_pause_s

    def wait_before(self, deadline: float) -> float:
        """Wait while any question waits for its evidence, until `deadline` (from `deadline()`); the seconds waited.

        For work that can come later (an answer's record and final blocks once its evidence is shown):
        a wall-clock deadline set when the work was put off, so work queued behind other work does not
        wait again once its time is up.
        """
        started = time.monotonic()
        if deadline > started and self.anyone_waiting():
            self._wait_clear(deadline - started)
        return time.monotonic() - started

    def _release(self) -> None:
        with self._condition:
            self._waiting -= 1
            if self._siblings is not None:
                self._siblings.publish(self._waiting)
            self._condition.notify_all()

    def _wait_clear(self, timeout: float) -> None:
        """Wait until no question waits here or in a sibling, or `timeout` passed."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not self._anyone_waiting_locked():
                    return
                # Our own questions notify; the siblings' counts are files, so those are polled.
                self._condition.wait(min(left, SIBLING_POLL_S) if self._siblings is not None else left)


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
        if self.left_s <= 0 or not self._owner.anyone_waiting():
            return
        started = time.monotonic()
        self._owner._wait_clear(self.left_s)
        spent = time.monotonic() - started
        self.paused_s += spent
        self.left_s -= spent


class SharedCounts:
    """The waiting counts of processes on one host that share `folder`: one file per process.

    Args:
        name: this process's file (default its pid; a file named by a pid that is no longer running
            counts for nothing).
        stale_after_s: a file not rewritten for this long counts for nothing (a process that hung or
            was killed while questions waited must not pause its siblings for good).
    """

    def __init__(self, folder: Path, *, name: str | None = None, stale_after_s: float = 60.0) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._mine = folder / f"{name or os.getpid()}.count"
        self._stale_after_s = stale_after_s
        self._file: int | None = None

    def publish(self, count: int) -> None:
        """Write this process's count in place: one fixed-width write (a reader sees the old or the
        new one), cheap enough for every question (a file written and renamed each time cost 3% of a
        burst's samples)."""
        try:
            if self._file is None:
                self._file = os.open(self._mine, os.O_RDWR | os.O_CREAT, 0o644)
            os.pwrite(self._file, f"{count:>{_COUNT_WIDTH}}".encode(), 0)
        except OSError:  # a full or read-only /tmp: the siblings just do not pause for us
            pass

    def others(self) -> int:
        """The sum of the sibling processes' live counts."""
        total = 0
        now = time.time()
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return 0
        for entry in entries:
            if not entry.name.endswith(".count") or entry.name == self._mine.name:
                continue
            try:
                if now - entry.stat().st_mtime > self._stale_after_s or not _running(entry.name[:-len(".count")]):
                    continue
                total += max(0, int(Path(entry.path).read_text().strip() or 0))
            except (OSError, ValueError):  # gone meanwhile, or half-written by hand: nothing
                continue
        return total

    def close(self) -> None:
        """Remove this process's file (at exit)."""
        if self._file is not None:
            os.close(self._file)
            self._file = None
        self._mine.unlink(missing_ok=True)


def _running(name: str) -> bool:
    """Whether a count file's name is a pid still running (a name that is not a pid counts as running)."""
    if not name.isdigit():
        return True
    try:
        os.kill(int(name), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True


def sibling_folder() -> Path:
    """Where the worker processes of one server (children of one gunicorn master) share their counts."""
    return Path(tempfile.gettempdir()) / f"kb-evidence-first-{os.getppid()}"


NO_PAUSES = EvidenceFirst(max_pause_s=0.0)
"""For generators outside an answering process (training, benches): nothing ever pauses them."""

