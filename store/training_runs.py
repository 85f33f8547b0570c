"""Training-run requests and their outcomes: how the bot and the training worker meet (store).

The bot asks for a run (an admin's `/kb retrain`), the worker claims and executes it
(`store.run_claims`), and the bot later reports finished runs back to Slack. At most one run is
queued or running at a time (a partial unique index), so overlapping triggers share one run: a
second request is recorded on the open run as one more requester and channel to tell, instead of
racing for a row of its own. Requests are serialised by an advisory lock, so a lost race never
consumes a run id: the numbers users see (`#id`) have no gaps.

A 'running' run whose worker died (its advisory lock is free, see `store.run_locks`) is failed
by whoever looks first: the worker's poll, its start-up, or the next request, so a dead run never
blocks the queue and `/kb status` never shows a dead run as running.

Store functions take a `Session`; the caller owns the transaction. They return `RunRecord`s, never
ORM rows, so what they return stays usable once the session is closed. Reading a run's liveness
takes its advisory lock until the transaction ends (see `store.run_locks.owner_gone`), so callers
keep reads in short sessions of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.run_locks import owner_gone, serialise_requests
from store.schema import TrainingRun

OPEN_STATUSES = ("queued", "running")
FINISHED_STATUSES = ("succeeded", "rejected", "skipped", "failed")
ABANDONED_MESSAGE = ("the worker running it stopped (killed or crashed) before it finished; "
                     "nothing was promoted and the serving model is unchanged")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """A training run as the bot and the worker see it.

    Attributes:
        id: the run number users see (`#id`); ids are handed out without gaps.
        requested_by, notify_channel: the first requester and their channel.
        requesters, notify_channels: everyone who asked and every channel to tell, in order.
        heartbeat_at: when the owning worker last said it is alive (None before the run starts).
        heartbeat_age_s: seconds since `heartbeat_at`, by the database clock, when read.
        worker_alive: for a 'running' run, whether a process still owns it; None otherwise.
        progress: phase, step, max_steps, loss, elapsed_s, eta_s and updated_at of the run.
        report_post: where the bot posted the run's report in Slack (`channel`, `ts`, `files`: uploaded
            chart ids by name), empty until it has.
    """

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
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    heartbeat_age_s: float | None = None
    worker_alive: bool | None = None
    progress: dict[str, Any] | None = None
    requesters: tuple[str, ...] = ()
    notify_channels: tuple[str, ...] = ()
    report_post: dict[str, Any] = field(default_factory=dict)


def record_of(row: TrainingRun, *, now: datetime | None = None, worker_alive: bool | None = None) -> RunRecord:
    """The record of an ORM row; `now` (the database clock) gives the heartbeat's age."""
    age = (now - row.heartbeat_at).total_seconds() if now is not None and row.heartbeat_at is not None else None
    return RunRecord(id=row.id, status=row.status, trigger=row.trigger, requested_by=row.requested_by,
                     notify_channel=row.notify_channel, message=row.message, metrics=dict(row.metrics or {}),
                     adapter_id=row.adapter_id, dataset_id=row.dataset_id, report_path=row.report_path,
                     created_at=row.created_at, finished_at=row.finished_at, started_at=row.started_at,
                     heartbeat_at=row.heartbeat_at, heartbeat_age_s=round(age, 1) if age is not None else None,
                     worker_alive=worker_alive, progress=dict(row.progress or {}),
                     requesters=tuple(row.requesters or ()), notify_channels=tuple(row.notify_channels or ()),
                     report_post=dict(row.report_post or {}))


def _read(session: Session, query: Select[TrainingRun]) -> list[RunRecord]:
    """Run `query` and turn its rows into records, with heartbeat ages and, for running runs, liveness."""
    now = session.scalar(select(func.now()))
    rows = list(session.scalars(query))
    return [record_of(row, now=now, worker_alive=not owner_gone(session, row.id) if row.status == "running"
                      else None) for row in rows]


def _first(session: Session, query: Select[TrainingRun]) -> RunRecord | None:
    records = _read(session, query.limit(1))
    return records[0] if records else None


def request_training_run(session: Session, *, trigger: str, requested_by: str | None = None,
                         notify_channel: str | None = None) -> tuple[RunRecord, bool]:
    """Queue a run, or join the run already queued or running.

    Joining records `requested_by` and `notify_channel` on the open run (once each), so everyone who
    asked is told the outcome. A 'running' run whose worker died is failed first and does not count
    as open. Other requests wait until the caller's transaction ends, so commit it promptly.

    Returns:
        The run and whether this call created it.
    """
    try:
        with session.begin_nested():  # a lost race rolls back to here, not the caller's whole transaction
            serialise_requests(session)
            fail_abandoned_runs(session)
            row = session.scalars(select(TrainingRun).where(TrainingRun.status.in_(OPEN_STATUSES))
                                  .with_for_update()).first()
            created = row is None
            if row is None:
                row = TrainingRun(trigger=trigger, requested_by=requested_by, notify_channel=notify_channel,
                                  requesters=[requested_by] if requested_by else [],
                                  notify_channels=[notify_channel] if notify_channel else [])
                session.add(row)
            else:
                _join(row, requested_by=requested_by, notify_channel=notify_channel)
            session.flush()
            return record_of(row), created
    except IntegrityError:  # a writer that skipped the request lock got there first: join its run
        return request_training_run(session, trigger=trigger, requested_by=requested_by,
                                    notify_channel=notify_channel)


def _join(row: TrainingRun, *, requested_by: str | None, notify_channel: str | None) -> None:
    """Add a requester and their channel to an open run (the columns are reassigned: ARRAY edits are not tracked)."""
    if requested_by and requested_by not in (row.requesters or []):
        row.requesters = [*(row.requesters or []), requested_by]
        row.requested_by = row.requested_by or requested_by
    if notify_channel and notify_channel not in (row.notify_channels or []):
        row.notify_channels = [*(row.notify_channels or []), notify_channel]
        row.notify_channel = row.notify_channel or notify_channel


def open_training_run(session: Session) -> RunRecord | None:
    return _first(session, select(TrainingRun).where(TrainingRun.status.in_(OPEN_STATUSES)))


def latest_training_run(session: Session) -> RunRecord | None:
    return _first(session, select(TrainingRun).order_by(TrainingRun.id.desc()))


def recent_training_runs(session: Session, limit: int = 5) -> list[RunRecord]:
    """The newest runs, newest first."""
    return _read(session, select(TrainingRun).order_by(TrainingRun.id.desc()).limit(limit))


def latest_finished_run(session: Session) -> RunRecord | None:
    """The newest run that has ended, whatever its outcome."""
    return _first(session, select(TrainingRun).where(TrainingRun.status.in_(FINISHED_STATUSES))
                  .order_by(TrainingRun.id.desc()))


def record_report_post(session: Session, run_id: int, post: dict[str, Any]) -> None:
    """Remember where the run's report was posted in Slack (see `RunRecord.report_post`)."""
    session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(report_post=post))


def get_training_run(session: Session, run_id: int) -> RunRecord | None:
    return _first(session, select(TrainingRun).where(TrainingRun.id == run_id))


def finished_unreported_runs(session: Session, *, every_run: bool = False) -> list[RunRecord]:
    """Finished runs the bot has not reported yet: those someone asked about, or all with `every_run`.

    `every_run` is for an admin channel that hears about every outcome, scheduled runs included.
    """
    query = select(TrainingRun).where(TrainingRun.status.in_(FINISHED_STATUSES), TrainingRun.reported_at.is_(None))
    if not every_run:
        query = query.where(func.cardinality(TrainingRun.notify_channels) > 0)
    return _read(session, query.order_by(TrainingRun.id))


def mark_reported(session: Session, run_id: int) -> bool:
    """Mark a finished run reported; False when another process reported it first.

    The claim holds once committed: commit it before posting the report.
    """
    # An UPDATE's result is a CursorResult, which is what carries rowcount.
    result = cast(CursorResult[Any], session.execute(update(TrainingRun).where(
        TrainingRun.id == run_id, TrainingRun.reported_at.is_(None)).values(reported_at=func.now())))
    return bool(result.rowcount)


def given_fields(**fields: Any) -> dict[str, Any]:
    """The fields that were given: None means "leave the column as it is"."""
    return {name: value for name, value in fields.items() if value is not None}


def mark_run_finished(session: Session, run_id: int, *, status: str, message: str,
                      metrics: dict[str, Any] | None = None, report_path: str | None = None,
                      dataset_id: int | None = None, adapter_id: int | None = None) -> bool:
    """Move a running run to a finished status; False when it was not running (already finished).

    The caller can finish the run in the same transaction as a promotion.
    """
    if status not in FINISHED_STATUSES:
        raise ValueError(f"status must be one of {FINISHED_STATUSES}, got {status!r}")
    values: dict[str, Any] = {"status": status, "message": message, "finished_at": func.now(),
                              **given_fields(metrics=metrics, report_path=report_path, dataset_id=dataset_id,
                                       adapter_id=adapter_id)}
    result = cast(CursorResult[Any], session.execute(
        update(TrainingRun).where(TrainingRun.id == run_id, TrainingRun.status == "running").values(**values)))
    return bool(result.rowcount)


PostMortem = Callable[[RunRecord], str | None]
"""Writes the report of a run found dead (the record already says 'failed'); returns its path."""


def fail_abandoned_runs(session: Session, *, post_mortem: PostMortem | None = None) -> list[int]:
    """Mark failed every 'running' run whose owner is gone (its advisory lock is free); return their ids.

    `post_mortem` writes each one's report before the status changes, so whoever announces the
    failure can already point at it.
    """
    failed: list[int] = []
    for row in session.scalars(select(TrainingRun).where(TrainingRun.status == "running")).all():
        if not owner_gone(session, row.id):
            continue  # a live worker holds it
        record = replace(record_of(row), status="failed", message=ABANDONED_MESSAGE)
        report_path = post_mortem(record) if post_mortem is not None else None
        if mark_run_finished(session, row.id, status="failed", message=ABANDONED_MESSAGE, report_path=report_path):
            failed.append(row.id)
    return failed


def run_counts_by_status(session: Session) -> dict[str, int]:
    """How many training runs have each status (statuses without runs left out); for `/metrics`."""
    rows = session.execute(select(TrainingRun.status, func.count()).group_by(TrainingRun.status)).all()
    return {status: int(count) for status, count in rows}
