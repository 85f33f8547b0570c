"""The real training worker (`python -m training worker`): JSON log lines naming the run they are about,
and a heartbeat row that /kb status lists while the worker lives and that goes when it stops."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from store.process_heartbeats import live_processes
from tests.runs import queue_run, run_record
from tests.training.test_worker_crash import _start_worker, _stop, _wait_for, _worker_env
from training.pipeline import LoopPaths


def _workers(sessions: sessionmaker[Session]) -> list[tuple[str, str, str | None]]:
    with sessions() as session:
        return [(p.kind, p.model, p.adapter_name) for p in live_processes(session)]


def test_the_worker_logs_json_with_run_ids_and_keeps_a_heartbeat_row(
        sessions: sessionmaker[Session], loop_paths: LoopPaths, database_url: str, tmp_path: Path,
        queue: None) -> None:
    log = tmp_path / "worker.log"
    worker = _start_worker(_worker_env(database_url, loop_paths), log)
    try:
        _wait_for("the worker's heartbeat row", lambda: _workers(sessions), timeout_s=120, workers=[worker], log=log)
        assert _workers(sessions) == [("worker", str(loop_paths.base_model), None)]
        run, _ = queue_run(sessions, trigger="admin", requested_by="UA")  # no feedback: it is skipped
        _wait_for("the run to finish", lambda: (r := run_record(sessions, run.id)) and r.status == "skipped",
                  timeout_s=120, workers=[worker], log=log)
    finally:
        _stop(worker)
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    claimed = [r for r in records if r["message"].startswith(f"run {run.id} claimed")]
    assert [r.get("run_id") for r in claimed] == [run.id], "a line about the run carries its id"
    assert not [line for line in log.read_text().splitlines() if line.startswith("Traceback")]
    assert _workers(sessions) == [], "a worker stopping cleanly removes its row"
