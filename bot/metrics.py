"""The answering processes' Prometheus metrics, defined once and updated where things happen (adapter).

Instrumented in place, as prometheus_client intends: the answer flow counts outcomes and times the
first visible text and the final answer, the admission gate keeps running/waiting gauges and counts
refusals, the work pool counts rejections, the adapter follower says what this process serves.
`/metrics` (`bot.slack.metrics_endpoint`) exposes them with the training runs read from the database.

Several gunicorn workers: prometheus_client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`, set by
`bot.slack.gunicorn_app.serve` before the workers start) keeps each process's values in files that
any worker's `/metrics` adds up; gauges say how (`livesum`: sum over live processes; `liveall`:
one series per live process, labelled `pid`). Without it every process reports only itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

Outcome = Literal["answered", "abstained", "verified", "busy", "refused", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("answered", "abstained", "verified", "busy", "refused", "failed")
"""answered: a generated, checked answer; abstained: "not in the documents" with related links;
verified: a teammate's verified answer served; busy: the model or the work pool was full;
refused: the question itself was rejected (empty, too long); failed: anything else went wrong."""

LATENCY_BUCKETS_S = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0, 120.0, 300.0)

ANSWERS = Counter("kb_answers", "Questions handled in Slack, by outcome.", ["outcome"])
FIRST_TEXT_SECONDS = Histogram(
    "kb_answer_first_text_seconds",
    "From a question's arrival to the first answer text shown in its thread (queue wait included).",
    buckets=LATENCY_BUCKETS_S)
ANSWER_SECONDS = Histogram(
    "kb_answer_seconds", "From a question's arrival to its final answer in the thread (queue wait included).",
    buckets=LATENCY_BUCKETS_S)
ADMISSION_RUNNING = Gauge("kb_admission_running", "Model calls holding an admission slot.",
                          multiprocess_mode="livesum")
ADMISSION_WAITING = Gauge("kb_admission_waiting", "Model calls waiting for an admission slot.",
                          multiprocess_mode="livesum")
ADMISSION_BUSY = Counter("kb_admission_busy", "Model calls refused because the waiting line was full or "
                                              "their wait ran out (GeneratorBusy).")
WORK_REJECTED = Counter("kb_work_rejected", "Jobs the background work pool refused because its queue was full.",
                        ["pool"])
ADAPTER_SERVED = Gauge("kb_adapter_served", "1 for the adapter this process serves now (\"base\": none), "
                                            "0 for one it served before.", ["adapter"], multiprocess_mode="liveall")

for _outcome in OUTCOMES:  # every outcome appears at 0 from the start, so rate() works from the first scrape
    ANSWERS.labels(_outcome)

_served_lock = threading.Lock()
_served: list[str] = []


def count_outcome(outcome: Outcome) -> None:
    """One more question handled with `outcome`."""
    ANSWERS.labels(outcome).inc()


def set_admission(*, running: int, waiting: int) -> None:
    """The admission gate's state after a change."""
    ADMISSION_RUNNING.set(running)
    ADMISSION_WAITING.set(waiting)


def set_adapter_served(name: str) -> None:
    """This process serves adapter `name` ("base" for none) from now on."""
    with _served_lock:
        for earlier in _served:
            if earlier != name:
                ADAPTER_SERVED.labels(earlier).set(0)
        if name not in _served:
            _served.append(name)
        ADAPTER_SERVED.labels(name).set(1)


class AnswerTimer:
    """Times one question from its arrival: the first text shown, then the final answer (each once)."""

    def __init__(self, received_at: float | None = None) -> None:
        self._received_at = time.monotonic() if received_at is None else received_at
        self._first_seen = False
        self._finished = False

    def showing(self, push: Callable[[str], None]) -> Callable[[str], None]:
        """`push` (which shows text in the thread) that records the first text once it is shown."""

        def push_and_time(delta: str) -> None:
            push(delta)
            if not self._first_seen and delta:
                self._first_seen = True
                FIRST_TEXT_SECONDS.observe(time.monotonic() - self._received_at)

        return push_and_time

    def finished(self) -> float:
        """Record the final answer's latency (once) and return it in seconds."""
        elapsed = time.monotonic() - self._received_at
        if not self._finished:
            self._finished = True
            ANSWER_SECONDS.observe(elapsed)
        return elapsed
