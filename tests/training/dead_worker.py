"""A worker process that claims the queued training run, records progress, and can then be killed (SIGKILL).

What a worker killed mid-training leaves behind, without training anything: a 'running' run whose
advisory lock dies with the process. Used by the store tests and by the Slack tests of `/kb retrain`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable

SCRIPT = """
import time
from store.database import make_engine, make_session_factory
from store.run_claims import claimed_run, record_progress
engine = make_engine({url!r})
with claimed_run(engine) as run:
    with make_session_factory(engine)() as session, session.begin():
        record_progress(session, run.id, {{"phase": "training", "step": 3, "max_steps": 9}})
    print(run.id, flush=True)
    time.sleep(600)
"""


def start_worker_holding_a_run(database_url: str) -> tuple[subprocess.Popen[str], int]:
    """Start the process; returns it once it holds the oldest queued run, and that run's id."""
    worker = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SCRIPT.format(url=database_url))],
                              stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None
    return worker, int(worker.stdout.readline())


def kill_and_wait(worker: subprocess.Popen[str], until: Callable[[], bool], *, timeout_s: float = 10.0) -> None:
    """SIGKILL the worker, then wait until `until()` (the server notices the closed connection a moment later)."""
    import time

    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    deadline = time.monotonic() + timeout_s
    while not until():
        assert time.monotonic() < deadline, "the dead worker's lock was never released"
        time.sleep(0.1)
