"""gunicorn settings for several worker processes sharing one `/metrics` (entry helper).

`gunicorn -c python:bot.slack.gunicorn_conf 'bot.slack.wsgi:application' …` (the Procfile form) and
`kbbot slack web` (`gunicorn_app.serve`) both use it. prometheus_client counts in each process's
memory unless `PROMETHEUS_MULTIPROC_DIR` names a folder when it is first imported; then every
worker writes its values to files there and any worker's `/metrics` adds them up, so a scrape
that lands on one worker still reports all of them. This module, imported by the gunicorn master
before any worker starts (workers import the app after the fork: no --preload), points that
variable at a fresh folder unless the deployment set one, empties it of a previous run's files,
and tells prometheus_client when a worker exits so its live gauges stop counting.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's own variable (read by prometheus_client itself, not by our settings)."""


def prepare_metrics_dir() -> Path | None:
    """Point the workers at one empty folder for their metric files; None when it is too late for that.

    Too late means prometheus_client is already imported in this (master) process: the workers,
    forked from it, would keep its in-memory values whatever the variable says.
    """
    if "prometheus_client" in sys.modules:
        logger.warning("prometheus_client was imported before gunicorn started its workers: each worker's "
                       "/metrics reports only itself")
        return None
    folder = Path(os.environ.get(MULTIPROC_DIR_VARIABLE) or tempfile.mkdtemp(prefix="kb-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):  # a previous run's values would be added to this one's
        stale.unlink()
    os.environ[MULTIPROC_DIR_VARIABLE] = str(folder)
    return folder


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook: a worker exited; its `livesum`/`liveall` gauges no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


metrics_dir = prepare_metrics_dir()


def json_logconfig() -> dict[str, Any] | None:
    """gunicorn's own lines (worker boots, the access log) as JSON too, unless KB_LOG_FORMAT=text.

    Each gunicorn logger keeps its one handler and does not propagate: the app's workers give the
    root logger its own JSON handler (`store.log_format`), which would print each line twice.
    """
    from store.config import LoggingSettings

    if LoggingSettings().format == "text":
        return None
    return {
        "root": {"level": "INFO", "handlers": []},
        "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
                    "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False}},
        "formatters": {"generic": {"()": "store.log_format.json_formatter"}},
    }


if (_json := json_logconfig()) is not None:
    logconfig_dict = _json
