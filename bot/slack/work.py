"""A bounded thread pool for slow work, separate from Bolt's listener pool (orch: threading only).

Bolt runs listeners (and, for commands and actions, the `ack()` itself) on a small executor, so a
few multi-second generations there would make slash commands miss Slack's 3-second ack. Listeners
therefore only ack, validate and claim, then hand generation, ingestion and search to this pool.

The pool refuses work once `max_queued` jobs wait (`WorkRejected`), so a burst turns into an
immediate "busy" reply instead of answers arriving minutes late. `wait_idle()` lets tests and
shutdown wait for everything submitted to finish. It is also a `concurrent.futures.Executor`, so
the same class (unbounded) serves as Bolt's `listener_executor`.

A pool can run its threads at a lower CPU priority (`nice`): the summaries' pool can (KB_SUMMARY_NICE),
so that the model writing summaries yields the cores to the next questions' evidence, which must
show within a second. bench/burst.py measured both ways on 2 cores without a difference beyond the
host's noise (the threads also share one interpreter lock, which a nice value does not order), so
it is off by default.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from bot import metrics

logger = logging.getLogger(__name__)


def lower_thread_priority(increment: int) -> None:
    """Make the calling thread `increment` nicer (at most 19), on Linux, where each thread has its own
    nice value and threads it starts inherit it (so a generation thread started here runs nicer too).

    Elsewhere, or when the system refuses, the thread keeps its priority (logged): priority is a
    preference, never a reason to fail work.
    """
    if increment <= 0 or not sys.platform.startswith("linux"):
        return  # on other systems PRIO_PROCESS with a thread id would name a process
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + increment))
    except OSError as exc:
        logger.info("thread %s keeps its CPU priority: %s", threading.current_thread().name, exc)


class WorkRejected(RuntimeError):
    """Raised by `submit` when the queue is full; callers tell the user to try again shortly."""


class BackgroundWork(Executor):
    """`max_workers` threads; at most `max_queued` jobs waiting (None: unbounded); threads `nice` nicer."""

    def __init__(self, *, max_workers: int = 4, max_queued: int | None = 32, name: str = "kb-work",
                 nice: int = 0) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name,
                                        initializer=lower_thread_priority, initargs=(nice,))
        self._max_workers = max_workers
        self._name = name
        self._max_queued = max_queued
        self._pending = 0
        self._condition = threading.Condition()

    @property
    def workers(self) -> int:
        """Threads running jobs; a job submitted while `pending >= workers` waits for one."""
        return self._max_workers

    @property
    def pending(self) -> int:
        """Jobs submitted and not finished (running or waiting)."""
        with self._condition:
            return self._pending

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._condition:
            if self._max_queued is not None and self._pending >= self._max_workers + self._max_queued:
                metrics.WORK_REJECTED.labels(self._name).inc()
                raise WorkRejected(f"{self._pending} jobs already pending")
            self._pending += 1
        try:
            # In a copy of the submitter's context: the event and answer ids bound for logging
            # (`store.log_context`) follow the job onto the pool's thread.
            return self._pool.submit(contextvars.copy_context().run, self._run, fn, args, kwargs)
        except BaseException:
            self._done()
            raise

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:
            # Jobs handle their own errors (apologies); anything reaching here is a bug worth a trace.
            logger.exception("background job %s failed", getattr(fn, "__qualname__", fn))
            raise
        finally:
            self._done()

    def _done(self) -> None:
        with self._condition:
            self._pending -= 1
            self._condition.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending; False if `timeout` passed first."""
        with self._condition:
            return self._condition.wait_for(lambda: self._pending == 0, timeout=timeout)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
