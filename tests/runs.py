"""Training-run store calls as the bot and the worker make them, each in a session of its own (test helpers).

The store functions take a `Session`; these open it, and commit it for the writes, so a test reads
like the orchestrator it plays (`/kb retrain` queues a run, `/kb status` reads the newest one).
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from store.training_runs import (
    RunRecord,
    fail_abandoned_runs,
    get_training_run,
    latest_training_run,
    request_training_run,
)


def queue_run(sessions: sessionmaker[Session], *, trigger: str, requested_by: str | None = None,
                notify_channel: str | None = None) -> tuple[RunRecord, bool]:
    """Queue a run or join the open one, committed (see `request_training_run`)."""
    with sessions.begin() as session:
        return request_training_run(session, trigger=trigger, requested_by=requested_by,
                                    notify_channel=notify_channel)


def run_record(sessions: sessionmaker[Session], run_id: int) -> RunRecord | None:
    with sessions() as session:
        return get_training_run(session, run_id)


def newest_run(sessions: sessionmaker[Session]) -> RunRecord | None:
    with sessions() as session:
        return latest_training_run(session)


def fail_dead_runs(sessions: sessionmaker[Session]) -> list[int]:
    """Fail the runs whose worker died, committed (see `fail_abandoned_runs`)."""
    with sessions.begin() as session:
        return fail_abandoned_runs(session)
