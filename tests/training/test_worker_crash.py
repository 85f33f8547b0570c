"""A training worker killed with SIGKILL mid-run: its run fails with a report, serving is untouched, and the
next run starts within one poll interval on the restarted worker, with no manual step.

Real processes throughout: `python -m training worker` (procrastinate, in-process training of the tiny model)
on the test Postgres; the test plays the bot (`request_training_run`, as `/kb retrain` does) and the process
supervisor (it starts the worker again after the kill, as systemd or a Procfile host would).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from store.adapter_registry import promote, register_adapter, serving_adapter
from store.training_runs import RunRecord
from tests.runs import queue_run, run_record
from tests.tiny_models import build_tiny_lora_adapter
from tests.training.feedback_fixtures import feedback_items
from training.pipeline import LoopPaths

POLL_S = 2
"""The workers' poll interval in this test (`TRAINING_POLL_CRON`, seconds as cron's sixth field)."""


def _worker_env(database_url: str, paths: LoopPaths, **overrides: str) -> dict[str, str]:
    return os.environ | {
        "DATABASE_URL": database_url, "TRAINING_BASE_MODEL": str(paths.base_model),
        "TRAINING_DATA_DIR": str(paths.datasets_root.parent), "TRAINING_MIN_DESIRABLE": "4",
        "TRAINING_MIN_UNDESIRABLE": "4", "TRAINING_MIN_EVAL_EXAMPLES": "2", "TRAINING_EVAL_FRACTION": "0.25",
        "TRAINING_MAX_LENGTH": "128", "TRAINING_PROGRESS_BAR": "false", "TRAINING_TORCH_THREADS": "1",
        "TRAINING_LEARNING_RATE": "0.005", "TRAINING_GATE_GENERAL_TOLERANCE": "4.0",
        "TRAINING_POLL_CRON": f"* * * * * */{POLL_S}", "TRAINING_CRON": "0 3 1 1 *",
        "TRAINING_HEARTBEAT_S": "1", "TRAINING_STALLED_AFTER_S": "3", **overrides}


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen([sys.executable, "-m", "training", "worker"], env=env, stdout=sink,
                                stderr=subprocess.STDOUT)


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)  # procrastinate stops gracefully on SIGTERM
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=30)


def _wait_for(what: str, check: Callable[[], Any], *, timeout_s: float, workers: list[subprocess.Popen[bytes]],
              log: Path) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        for worker in workers:
            assert worker.poll() is None, f"a worker exited early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)
    return result


def _jobs(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(
            "SELECT task_name, status::text FROM procrastinate.procrastinate_jobs "
            "WHERE task_name = 'training.execute' ORDER BY id"))]


def _serving(sessions: sessionmaker[Session]) -> str | None:
    with sessions() as session:
        current = serving_adapter(session)
        return current.name if current else None


def test_a_killed_worker_fails_its_run_and_the_next_run_starts_within_one_poll(
        engine: Engine, sessions: sessionmaker[Session], seed, loop_paths: LoopPaths, database_url: str,
        tmp_path: Path, queue: None) -> None:
    folder = build_tiny_lora_adapter(loop_paths.base_model, loop_paths.adapters_root / "previous", seed=5)
    with sessions() as session, session.begin():
        promote(session, register_adapter(session, name="previous", path=str(folder),
                                          base_model=str(loop_paths.base_model)).id, actor="test")
    seed(feedback_items(24))
    log = tmp_path / "worker.log"
    first_run, _ = queue_run(sessions, trigger="admin", requested_by="UA", notify_channel="C1")

    # Worker 1 picks the run up at its first poll and trains "forever".
    endless = _worker_env(database_url, loop_paths, TRAINING_EPOCHS="100000")
    worker = _start_worker(endless, log)
    workers = [worker]
    try:
        running: RunRecord = _wait_for("training progress", lambda: (
            (run := run_record(sessions, first_run.id)).progress.get("step", 0) >= 2 and run),
            timeout_s=180, workers=workers, log=log)
        assert running.status == "running" and running.worker_alive and running.progress["phase"] == "training"
        assert running.progress["max_steps"] > running.progress["step"] and "eta_s" in running.progress
        assert running.heartbeat_age_s is not None and running.heartbeat_age_s < 5
        assert "ETA" in log.read_text()  # the worker log shows step, loss and ETA too
        # One execute job holds the run; nothing waits behind it. A poll that fired between that job starting
        # and it claiming the run may have deferred a second one: it found nothing to claim and succeeded.
        assert [job for job in _jobs(engine) if job[1] in ("todo", "doing")] == [("training.execute", "doing")]
        assert {status for _, status in _jobs(engine)} <= {"doing", "succeeded"}

        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        killed_at = time.monotonic()

        # The supervisor starts the worker again; it fails the dead run, with a report, before anything else.
        worker = _start_worker(_worker_env(database_url, loop_paths, TRAINING_MAX_STEPS="2"), log)
        workers = [worker]
        failed = _wait_for("the dead run to be failed", lambda: (
            (run := run_record(sessions, first_run.id)).status == "failed" and run),
            timeout_s=120, workers=workers, log=log)
        assert "killed or crashed" in failed.message and _serving(sessions) == "previous"
        report = Path(failed.report_path)
        assert report.is_file() and "# Training run" in report.read_text() and "killed or crashed" in report.read_text()
        assert "## Error" in report.read_text() and "it was in: training, step" in report.read_text()
        assert not [p for p in loop_paths.adapters_root.iterdir() if p.name.startswith(".staging-")]

        failed_after_s = time.monotonic() - killed_at

        # The next /kb retrain gets the next number and starts at the next poll, with nobody's help (the
        # killed worker's job may still say 'doing': it no longer holds anything back).
        second_run, created = queue_run(sessions, trigger="admin", requested_by="UB", notify_channel="C2")
        requested_at = time.monotonic()
        assert created and second_run.id == first_run.id + 1
        _wait_for("the next run to start", lambda: run_record(sessions, second_run.id).status != "queued",
                  timeout_s=60, workers=workers, log=log)
        started_after_s = time.monotonic() - requested_at

        # The killed worker's procrastinate job ('doing', no heartbeat) is failed by a poll.
        _wait_for("the stalled job to be failed", lambda: _jobs(engine)[:1] == [("training.execute", "failed")],
                  timeout_s=60, workers=workers, log=log)
        recovered_after_s = time.monotonic() - killed_at
        finished = _wait_for("the next run to finish", lambda: (
            (run := run_record(sessions, second_run.id)).finished_at is not None and run),
            timeout_s=180, workers=workers, log=log)
    finally:
        for process in workers:
            _stop(process)
    print(f"kill -9 → run failed (worker restarted at once): {failed_after_s:.1f} s; "
          f"next request → run started: {started_after_s:.1f} s (poll every {POLL_S} s); "
          f"kill -9 → stalled job failed: {recovered_after_s:.1f} s")
    assert started_after_s <= POLL_S + 3, started_after_s  # one poll interval, plus claiming it
    assert finished.status in ("succeeded", "rejected"), finished.message
    assert Path(finished.report_path).is_file()
    assert _jobs(engine)[0] == ("training.execute", "failed") and ("training.execute", "succeeded") in _jobs(engine)
