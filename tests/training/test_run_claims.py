"""Training-run rows under concurrency: one run per burst of triggers, one owner per run, dead owners noticed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from knowledge.training_runs import (
    claimed_run,
    fail_abandoned_runs,
    get_training_run,
    mark_run_finished,
    request_training_run,
)


def test_concurrent_triggers_share_one_run(sessions: sessionmaker[Session]) -> None:
    barrier = Barrier(8)

    def trigger(index: int):
        barrier.wait()
        return request_training_run(sessions, trigger="admin" if index % 2 else "schedule",
                                    requested_by=f"U{index}", notify_channel="C1")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(trigger, range(8)))
    assert len({run.id for run, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_a_run_has_one_owner(engine: Engine, sessions: sessionmaker[Session]) -> None:
    run, _ = request_training_run(sessions, trigger="admin")
    with claimed_run(engine) as first:
        assert first is not None and first.id == run.id and first.status == "running"
        with claimed_run(engine) as second:
            assert second is None
        assert fail_abandoned_runs(engine) == []  # its owner is alive
        with sessions() as session, session.begin():
            assert mark_run_finished(session, run.id, status="succeeded", message="done")
    with claimed_run(engine) as nothing:
        assert nothing is None
    finished = get_training_run(sessions, run.id)
    assert finished is not None and finished.status == "succeeded" and finished.finished_at is not None


def test_finishing_twice_does_not_overwrite(engine: Engine, sessions: sessionmaker[Session]) -> None:
    run, _ = request_training_run(sessions, trigger="admin")
    with claimed_run(engine) as claimed, sessions() as session, session.begin():
        assert claimed is not None
        assert mark_run_finished(session, run.id, status="rejected", message="gate")
        assert not mark_run_finished(session, run.id, status="failed", message="late")
    assert get_training_run(sessions, run.id).status == "rejected"


def test_a_run_whose_worker_was_killed_is_failed_on_the_next_start(engine: Engine, database_url: str,
                                                                   sessions: sessionmaker[Session]) -> None:
    run, _ = request_training_run(sessions, trigger="schedule")
    script = textwrap.dedent(f"""
        import sys, time
        from knowledge.database import make_engine
        from knowledge.training_runs import claimed_run
        with claimed_run(make_engine({database_url!r})) as run:
            print(run.id, flush=True)
            time.sleep(600)
    """)
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None and int(worker.stdout.readline()) == run.id
        assert get_training_run(sessions, run.id).status == "running"
        assert fail_abandoned_runs(engine) == []
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        deadline = time.monotonic() + 10
        while not (failed := fail_abandoned_runs(engine)) and time.monotonic() < deadline:
            time.sleep(0.1)  # the server notices the closed connection a moment later
    finally:
        worker.kill()
    assert failed == [run.id]
    record = get_training_run(sessions, run.id)
    assert record.status == "failed" and "killed or crashed" in record.message
    again, created = request_training_run(sessions, trigger="admin")
    assert created and again.id != run.id  # the dead run no longer blocks the queue
