"""Training-run requests and their outcomes: how the bot and the training worker meet (store).

The bot asks for a run (an admin's `/kb retrain`), the worker claims and executes it, and the bot
later reports finished runs back to Slack. At most one run is queued or running at a time (a partial
unique index), so overlapping triggers share one run instead of racing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
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
