"""Failed runs end with a report, dead workers' runs included (orch).

A run that raised is failed by its own worker with the traceback (`fail_run`). A worker killed
mid-run (SIGKILL, the OOM killer, a lost machine) cannot do that: its run stays 'running' with a
free advisory lock until someone looks. `recover_runs` is that someone on the worker's side (at
start-up, before every claim, at every poll): it fails such runs, writes their reports from what
the run's record says it got to (dataset, phase, step), writes the report of any failed run that
has none (a `/kb retrain` can find a dead run first), and removes half-written version folders.

Writing a report is best effort: a full disk must never hide a failure, so a report that cannot be
written is retried at the next recovery instead of blocking the status change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from store.run_claims import failed_runs_without_report, set_report_path
from store.training_runs import RunRecord, fail_abandoned_runs, get_training_run, mark_run_finished
from training.artifacts import discard_staging
from training.report import RunReport, write_report

logger = logging.getLogger(__name__)

KILLED = ("no traceback: the process was killed (SIGKILL, out of memory) or lost its database connection, "
          "so it could not write one")


def report_dir_of(reports_root: Path, run_id: int) -> Path:
    return reports_root / f"run-{run_id}"


def write_failure_report(reports_root: Path, run: RunRecord, *, error: str) -> str | None:
    """Write a failed run's report: its message, where it was (phase, step), its dataset and the error.

    Returns the path of report.md, or None when it could not be written.
    """
    progress = run.progress or {}
    where = progress.get("phase")
    if where and "step" in progress:
        where += f", step {progress['step']}/{progress.get('max_steps', '?')}"
    summary = (run.message or "failed") + (f" (it was in: {where})" if where else "")
    report = RunReport(run_id=run.id, status="failed", summary=summary, dataset=run.metrics.get("dataset", {}),
                       error=error)
    try:
        return str(write_report(report_dir_of(reports_root, run.id), report))
    except OSError:
        logger.exception("could not write the report of failed run %d", run.id)
        return None


def fail_run(sessions: sessionmaker[Session], reports_root: Path, run_id: int, *, message: str,
             error: str) -> str | None:
    """Fail a run this process owns, with a report holding `error` (a traceback); return the report's path."""
    with sessions() as session:
        current = get_training_run(session, run_id)
    report_path = (write_failure_report(reports_root, replace(current, message=message), error=error)
                   if current is not None else None)
    with sessions() as session, session.begin():
        mark_run_finished(session, run_id, status="failed", message=message, report_path=report_path)
    return report_path


def recover_runs(sessions: sessionmaker[Session], *, reports_root: Path, version_roots: Iterable[Path]) -> list[int]:
    """Fail runs whose worker died, give every failed run a report, remove half-written versions.

    Only folders whose writer is gone are removed (see `training.artifacts`), so this is safe to call
    while another process trains. Returns the ids of the runs it failed.
    """
    # Leftovers go first, so whoever sees a run 'failed' never also sees its half-written version.
    for root in version_roots:
        for leftover in discard_staging(root):
            logger.warning("removed half-written %s", leftover)
    with sessions() as session, session.begin():  # each report is written before its run turns 'failed'
        failed = fail_abandoned_runs(session, post_mortem=lambda run: write_failure_report(reports_root, run,
                                                                                          error=KILLED))
    for run_id in failed:
        logger.warning("run %d was left running by a dead worker; marked failed", run_id)
    with sessions() as session:
        unreported = failed_runs_without_report(session)
    for run in unreported:
        if report_path := write_failure_report(reports_root, run, error=KILLED):
            with sessions() as session, session.begin():  # each report is attached as soon as it is written
                set_report_path(session, run.id, report_path)
    return failed
