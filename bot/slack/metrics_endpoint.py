"""The body of `GET /metrics`: this process's (or every gunicorn worker's) metrics and the training runs (adapter).

The metrics `bot.metrics` defines come from prometheus_client's default registry, or, when
`PROMETHEUS_MULTIPROC_DIR` is set (prometheus_client's own variable; `bot.slack.gunicorn_app.serve`
sets it for its workers), from the files every worker writes there, added up. Training-run
outcomes are read from the database at each scrape (`kb_training_runs_total{outcome}` for finished
runs, `kb_training_runs_active{status}` for queued and running ones) rather than exported by the
worker: the worker then needs no port of its own, and every web process reports the same,
complete figures, including runs finished before it started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from store.training_runs import FINISHED_STATUSES, OPEN_STATUSES, run_counts_by_status

logger = logging.getLogger(__name__)

MetricsBody = Callable[[], tuple[bytes, str]]
"""Returns the exposition text and its content type."""


class TrainingRunsCollector(Collector):
    """Training runs by status, counted in the database when scraped."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration: collect() reads the database

    def collect(self) -> Iterator[Metric]:
        try:
            with self._sessions() as session:
                counts = run_counts_by_status(session)
        except SQLAlchemyError as exc:  # the other metrics still matter while the database is away
            logger.warning("training runs left out of /metrics: %s", exc)
            return
        finished = CounterMetricFamily("kb_training_runs", "Finished training runs, by outcome.",
                                       labels=["outcome"])
        for status in FINISHED_STATUSES:
            finished.add_metric([status], counts.get(status, 0))
        active = GaugeMetricFamily("kb_training_runs_active", "Training runs queued or running.", labels=["status"])
        for status in OPEN_STATUSES:
            active.add_metric([status], counts.get(status, 0))
        yield finished
        yield active


def multiprocess_mode() -> bool:
    """Whether prometheus_client keeps values in `PROMETHEUS_MULTIPROC_DIR` files (decided when it was imported)."""
    return values.ValueClass is not values.MutexValue


def metrics_body(sessions: sessionmaker[Session]) -> MetricsBody:
    """A function producing the /metrics response body for a process using `sessions`."""
    database = CollectorRegistry(auto_describe=False)
    database.register(TrainingRunsCollector(sessions))

    def body() -> tuple[bytes, str]:
        if multiprocess_mode():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            own = generate_latest(registry)
        else:
            own = generate_latest(REGISTRY)
        return own + generate_latest(database), CONTENT_TYPE_LATEST

    return body
