"""Training-run requests and their outcomes: how the bot and the training worker meet (store).

The bot asks for a run (an admin's `/kb retrain`), the worker claims and executes it, and the bot
later reports finished runs back to Slack. At most one run is queued or running at a time (a partial
unique index), so overlapping triggers share one run instead of racing.

The worker's side (`claimed_run`, `update_run`, `mark_run_finished`, `fail_abandoned_runs`) is at
the end: a running run is owned through a Postgres advisory lock, so a killed worker is noticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from knowledge.schema import TrainingRun

OPEN_STATUSES = ("queued", "running")
FINISHED_STATUSES = ("succeeded", "rejected", "skipped", "failed")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """A training run as the bot and the worker see it."""

    id: int
    status: str
    trigger: str
    requested_by: str | None
    notify_channel: str | None
    message: str | None
    metrics: dict[str, Any]
    adapter_id: int | None
    dataset_id: int | None
    report_path: str | None
    created_at: datetime
    finished_at: datetime | None


def _record(row: TrainingRun) -> RunRecord:
    return RunRecord(id=row.id, status=row.status, trigger=row.trigger, requested_by=row.requested_by,
                     notify_channel=row.notify_channel, message=row.message, metrics=dict(row.metrics or {}),
                     adapter_id=row.adapter_id, dataset_id=row.dataset_id, report_path=row.report_path,
                     created_at=row.created_at, finished_at=row.finished_at)


def request_training_run(sessions: sessionmaker[Session], *, trigger: str, requested_by: str | None = None,
                         notify_channel: str | None = None) -> tuple[RunRecord, bool]:
    """Queue a run, or return the run already queued or running.

    Returns:
        The run and whether this call created it.
    """
    with sessions() as session:
        try:
            with session.begin():
                row = TrainingRun(trigger=trigger, requested_by=requested_by, notify_channel=notify_channel)
                session.add(row)
                session.flush()
                return _record(row), True
        except IntegrityError:
            pass  # lost the race to another trigger: share its run
    open_run = open_training_run(sessions)
    if open_run is None:  # it finished between our insert and this read; ask again
        return request_training_run(sessions, trigger=trigger, requested_by=requested_by,
                                    notify_channel=notify_channel)
    return open_run, False


def open_training_run(sessions: sessionmaker[Session]) -> RunRecord | None:
    with sessions() as session:
        row = session.scalars(select(TrainingRun).where(TrainingRun.status.in_(OPEN_STATUSES))).first()
        return _record(row) if row else None


def latest_training_run(sessions: sessionmaker[Session]) -> RunRecord | None:
    with sessions() as session:
        row = session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(1)).first()
        return _record(row) if row else None


def get_training_run(sessions: sessionmaker[Session], run_id: int) -> RunRecord | None:
    with sessions() as session:
        row = session.get(TrainingRun, run_id)
        return _record(row) if row else None


def finished_unreported_runs(sessions: sessionmaker[Session]) -> list[RunRecord]:
    """Finished runs someone asked to hear about that the bot has not reported yet."""
    with sessions() as session:
        rows = session.scalars(select(TrainingRun).where(
            TrainingRun.status.in_(FINISHED_STATUSES), TrainingRun.reported_at.is_(None),
            TrainingRun.notify_channel.is_not(None)).order_by(TrainingRun.id))
        return [_record(row) for row in rows]


def mark_reported(sessions: sessionmaker[Session], run_id: int) -> bool:
    """Mark a finished run reported; False when another process reported it first."""
    with sessions() as session, session.begin():
        result = session.execute(update(TrainingRun).where(TrainingRun.id == run_id,
                                                           TrainingRun.reported_at.is_(None))
                                 .values(reported_at=func.now()))
        return bool(result.rowcount)


# --- The worker's side: claiming, progress, finishing, and recovering runs of dead workers. ---
#
# A running run is owned by the process holding a session-level advisory lock on its id. The lock
# is taken before the row turns 'running' and dies with the owner's connection, so a run left
# 'running' whose lock is free belongs to a killed worker and is marked failed on the next start.

RUN_LOCK_NAMESPACE = 0x6B62
"""First key of the advisory locks on training runs (the second is the run id)."""


def _try_lock(connection: Connection, run_id: int) -> bool:
    return bool(connection.execute(text("SELECT pg_try_advisory_lock(:ns, :id)"),
                                   {"ns": RUN_LOCK_NAMESPACE, "id": run_id}).scalar())


def _unlock(connection: Connection, run_id: int) -> None:
    connection.execute(text("SELECT pg_advisory_unlock(:ns, :id)"), {"ns": RUN_LOCK_NAMESPACE, "id": run_id})


@contextmanager
def claimed_run(engine: Engine, *, run_id: int | None = None) -> Iterator[RunRecord | None]:
    """Claim the oldest queued run (or `run_id` if it is queued) and hold it while the block runs.

    Yields the run, now 'running', or None when there is nothing to claim or another worker got
    it first. The run must be finished (`mark_run_finished`) inside the block; a process killed
    inside the block releases the lock with its connection, which `fail_abandoned_runs` notices.
    """
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions() as session:
        query = select(TrainingRun.id).where(TrainingRun.status == "queued")
        if run_id is not None:
            query = query.where(TrainingRun.id == run_id)
        candidate = session.scalar(query.order_by(TrainingRun.id).limit(1))
    if candidate is None:
        yield None
        return
    # Autocommit: the lock must outlive transactions without leaving one open for hours.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if not _try_lock(connection, candidate):
            yield None
            return
        try:
            with sessions() as session, session.begin():
                row = session.scalars(update(TrainingRun)
                                      .where(TrainingRun.id == candidate, TrainingRun.status == "queued")
                                      .values(status="running", started_at=func.now())
                                      .returning(TrainingRun)).first()
                record = _record(row) if row is not None else None
            yield record
        finally:
            _unlock(connection, candidate)


def _given(**fields: Any) -> dict[str, Any]:
    """The fields that were given: None means "leave the column as it is"."""
    return {name: value for name, value in fields.items() if value is not None}


def update_run(session: Session, run_id: int, *, dataset_id: int | None = None,
               hyperparameters: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
               message: str | None = None) -> None:
    """Record progress on a running run (only the fields given)."""
    values = _given(dataset_id=dataset_id, hyperparameters=hyperparameters, metrics=metrics, message=message)
    if values:
        session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(**values))


def mark_run_finished(session: Session, run_id: int, *, status: str, message: str,
                      metrics: dict[str, Any] | None = None, report_path: str | None = None,
                      dataset_id: int | None = None, adapter_id: int | None = None) -> bool:
    """Move a running run to a finished status; False when it was not running (already finished).

    Takes a session so the caller can finish the run in the same transaction as a promotion.
    """
    if status not in FINISHED_STATUSES:
        raise ValueError(f"status must be one of {FINISHED_STATUSES}, got {status!r}")
    values: dict[str, Any] = {"status": status, "message": message, "finished_at": func.now(),
                              **_given(metrics=metrics, report_path=report_path, dataset_id=dataset_id,
                                       adapter_id=adapter_id)}
    result = session.execute(update(TrainingRun).where(TrainingRun.id == run_id, TrainingRun.status == "running")
                             .values(**values))
    return bool(result.rowcount)


def fail_abandoned_runs(engine: Engine) -> list[int]:
    """Mark failed every 'running' run whose owner is gone (its advisory lock is free); return their ids."""
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions() as session:
        running = list(session.scalars(select(TrainingRun.id).where(TrainingRun.status == "running")))
    failed: list[int] = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for run_id in running:
            if not _try_lock(connection, run_id):
                continue  # a live worker holds it
            try:
                with sessions() as session, session.begin():
                    if mark_run_finished(session, run_id, status="failed",
                                         message="the worker running it stopped (killed or crashed) before it "
                                                 "finished; nothing was promoted"):
                        failed.append(run_id)
            finally:
                _unlock(connection, run_id)
    return failed
