"""The training worker's side of a run: claim it, say it is alive, record progress (store).

A running run is owned by the process holding a session-level advisory lock on its id
(`store.run_locks`). The lock is taken before the row turns 'running' and dies with the
owner's connection, so a run left 'running' whose lock is free belongs to a dead worker and is
failed by `store.training_runs.fail_abandoned_runs`. While it works, the owner also refreshes
`heartbeat_at` and writes `progress`, which is what `/kb status` shows: the lock says whether the
worker is alive, the heartbeat's age says how recently it made itself heard.

Store functions take a `Session`; the caller owns the transaction. `claimed_run` is the exception:
it holds the run's lock on a connection of its own and commits the claim before yielding, so it
takes the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from store.log_context import bound_ids
from store.run_locks import try_lock, unlock
from store.schema import TrainingRun
from store.training_runs import RunRecord, given_fields, record_of


@contextmanager
def claimed_run(engine: Engine, *, run_id: int | None = None) -> Iterator[RunRecord | None]:
    """Claim the oldest queued run (or `run_id` if it is queued) and hold it while the block runs.

    Yields the run, now 'running' with a first heartbeat, or None when there is nothing to claim
    or another worker got it first. The run must be finished (`mark_run_finished`) inside the
    block; a process killed inside the block releases the lock with its connection.
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
        if not try_lock(connection, candidate):
            yield None
            return
        try:
            with sessions() as session, session.begin():
                row = session.scalars(update(TrainingRun)
                                      .where(TrainingRun.id == candidate, TrainingRun.status == "queued")
                                      .values(status="running", started_at=func.now(), heartbeat_at=func.now())
                                      .returning(TrainingRun)).first()
                record = record_of(row, worker_alive=True) if row is not None else None
            with bound_ids(run_id=record.id if record else None):  # every line about the run names it
                yield record
        finally:
            unlock(connection, candidate)


def update_run(session: Session, run_id: int, *, dataset_id: int | None = None,
               hyperparameters: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
               message: str | None = None) -> None:
    """Record progress on a running run (only the fields given)."""
    values = given_fields(dataset_id=dataset_id, hyperparameters=hyperparameters, metrics=metrics, message=message)
    if values:
        session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(**values))


def record_heartbeat(session: Session, run_id: int) -> bool:
    """Say the run's worker is alive now; False when the run is no longer running."""
    result = cast(CursorResult[Any], session.execute(  # an UPDATE's result carries rowcount
        update(TrainingRun).where(TrainingRun.id == run_id, TrainingRun.status == "running")
        .values(heartbeat_at=func.now())))
    return bool(result.rowcount)


def record_progress(session: Session, run_id: int, progress: dict[str, Any]) -> bool:
    """Replace the run's progress (and refresh its heartbeat); False when the run is no longer running."""
    result = cast(CursorResult[Any], session.execute(
        update(TrainingRun).where(TrainingRun.id == run_id, TrainingRun.status == "running")
        .values(progress=progress, heartbeat_at=func.now())))
    return bool(result.rowcount)


def failed_runs_without_report(session: Session) -> list[RunRecord]:
    """Failed runs nobody wrote a report for (their worker died, or a request found them dead)."""
    rows = session.scalars(select(TrainingRun).where(TrainingRun.status == "failed",
                                                     TrainingRun.report_path.is_(None)).order_by(TrainingRun.id))
    return [record_of(row) for row in rows]


def set_report_path(session: Session, run_id: int, report_path: str) -> None:
    """Attach a report written after the run finished (a failed run's post-mortem)."""
    session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(report_path=report_path))
