"""Training-run rows under concurrency: one run per burst of triggers, every requester kept, run numbers without
gaps, one owner per run, dead owners noticed (by the worker and by the next request)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from store.notices import add_notice
from store.run_claims import claimed_run
from store.schema import DocumentNotice, TrainingRun
from store.training_runs import mark_run_finished, request_training_run
from tests.runs import fail_dead_runs, newest_run, queue_run, run_record
from tests.training.dead_worker import kill_and_wait, start_worker_holding_a_run


def test_concurrent_triggers_share_one_run(sessions: sessionmaker[Session]) -> None:
    barrier = Barrier(8)

    def trigger(index: int):
        barrier.wait()
        return queue_run(sessions, trigger="admin" if index % 2 else "schedule", requested_by=f"U{index}",
                         notify_channel="C1")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(trigger, range(8)))
    assert len({run.id for run, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    run = run_record(sessions, results[0][0].id)
    assert sorted(run.requesters) == [f"U{index}" for index in range(8)]  # every requester is told
    assert run.notify_channels == ("C1",)


def test_run_numbers_have_no_gaps_however_many_requests_join(engine: Engine, sessions: sessionmaker[Session]) -> None:
    numbers = []
    for _ in range(3):
        first, created = queue_run(sessions, trigger="admin", requested_by="UA", notify_channel="C1")
        assert created
        for joiner in ("UB", "UC"):  # joined requests: the run's number, no number of their own
            again, joined_created = queue_run(sessions, trigger="admin", requested_by=joiner, notify_channel="C2")
            assert not joined_created and again.id == first.id
        with claimed_run(engine) as run, sessions() as session, session.begin():
            mark_run_finished(session, run.id, status="skipped", message="skipped: nothing to learn from")
        numbers.append(first.id)
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]
    last = run_record(sessions, numbers[-1])
    assert last.requesters == ("UA", "UB", "UC") and last.notify_channels == ("C1", "C2")
    assert (last.requested_by, last.notify_channel) == ("UA", "C1")  # the first requester stays the first


def test_a_requester_joining_a_scheduled_run_becomes_its_first_channel(sessions: sessionmaker[Session]) -> None:
    scheduled, _ = queue_run(sessions, trigger="schedule")
    joined, created = queue_run(sessions, trigger="admin", requested_by="UA", notify_channel="C7")
    assert not created and joined.id == scheduled.id and joined.trigger == "schedule"
    assert (joined.requested_by, joined.notify_channel, joined.notify_channels) == ("UA", "C7", ("C7",))


def test_a_request_racing_a_writer_that_skipped_the_request_lock_joins_its_run_in_the_callers_transaction(
        engine: Engine, sessions: sessionmaker[Session]) -> None:
    def request_after_other_work() -> tuple:
        with sessions.begin() as session:  # the caller's transaction: its earlier work must survive the lost race
            add_notice(session, recipient="UA", text="written before the request")
            session.flush()
            return request_training_run(session, trigger="admin", requested_by="UA", notify_channel="C1")

    with sessions() as other, ThreadPoolExecutor(1) as pool:
        with other.begin():  # inserts an open run without the request lock, committed only once the request waits
            row = TrainingRun(trigger="schedule")
            other.add(row)
            other.flush()
            request = pool.submit(request_after_other_work)
            deadline = time.monotonic() + 10
            while not _insert_waits(engine):  # the request's INSERT waits on the uncommitted open run
                assert time.monotonic() < deadline and not request.done(), "the request never reached its INSERT"
                time.sleep(0.05)
        run, created = request.result(timeout=30)
    assert not created and run.id == row.id and run.requesters == ("UA",) and run.notify_channels == ("C1",)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DocumentNotice)
                              .where(DocumentNotice.text == "written before the request")) == 1


def _insert_waits(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(connection.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND query ILIKE 'INSERT INTO training_runs%'")))


def test_a_run_has_one_owner(engine: Engine, sessions: sessionmaker[Session]) -> None:
    run, _ = queue_run(sessions, trigger="admin")
    with claimed_run(engine) as first:
        assert first is not None and first.id == run.id and first.status == "running"
        with claimed_run(engine) as second:
            assert second is None
        assert fail_dead_runs(sessions) == []  # its owner is alive
        status = newest_run(sessions)
        assert status.worker_alive is True and status.heartbeat_age_s is not None and status.heartbeat_age_s < 5
        with sessions() as session, session.begin():
            assert mark_run_finished(session, run.id, status="succeeded", message="done")
    with claimed_run(engine) as nothing:
        assert nothing is None
    finished = run_record(sessions, run.id)
    assert finished is not None and finished.status == "succeeded" and finished.finished_at is not None


def test_finishing_twice_does_not_overwrite(engine: Engine, sessions: sessionmaker[Session]) -> None:
    run, _ = queue_run(sessions, trigger="admin")
    with claimed_run(engine) as claimed, sessions() as session, session.begin():
        assert claimed is not None
        assert mark_run_finished(session, run.id, status="rejected", message="gate")
        assert not mark_run_finished(session, run.id, status="failed", message="late")
    assert run_record(sessions, run.id).status == "rejected"


def test_a_run_whose_worker_was_killed_is_failed_on_the_next_start(engine: Engine, database_url: str,
                                                                   sessions: sessionmaker[Session]) -> None:
    run, _ = queue_run(sessions, trigger="schedule")
    script = textwrap.dedent(f"""
        import sys, time
        from store.database import make_engine
        from store.run_claims import claimed_run
        with claimed_run(make_engine({database_url!r})) as run:
            print(run.id, flush=True)
            time.sleep(600)
    """)
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None and int(worker.stdout.readline()) == run.id
        assert run_record(sessions, run.id).status == "running"
        assert fail_dead_runs(sessions) == []
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        deadline = time.monotonic() + 10
        while not (failed := fail_dead_runs(sessions)) and time.monotonic() < deadline:
            time.sleep(0.1)  # the server notices the closed connection a moment later
    finally:
        worker.kill()
    assert failed == [run.id]
    record = run_record(sessions, run.id)
    assert record.status == "failed" and "killed or crashed" in record.message
    again, created = queue_run(sessions, trigger="admin")
    assert created and again.id != run.id  # the dead run no longer blocks the queue


def test_status_tells_a_dead_run_from_a_live_one_and_the_next_request_clears_it(
        database_url: str, sessions: sessionmaker[Session]) -> None:
    queue_run(sessions, trigger="admin", requested_by="UA", notify_channel="C1")
    worker, run_id = start_worker_holding_a_run(database_url)
    try:
        live = newest_run(sessions)
        assert (live.status, live.worker_alive, live.progress["step"]) == ("running", True, 3)
        kill_and_wait(worker, lambda: newest_run(sessions).worker_alive is False)
    finally:
        worker.kill()
    dead = newest_run(sessions)
    assert dead.id == run_id and dead.status == "running" and dead.worker_alive is False
    assert dead.heartbeat_age_s is not None and dead.heartbeat_age_s >= 0

    # No worker has come back yet: the next /kb retrain fails the dead run instead of joining it.
    fresh, created = queue_run(sessions, trigger="admin", requested_by="UB", notify_channel="C2")
    assert created and fresh.id == run_id + 1 and fresh.requesters == ("UB",)
    failed = run_record(sessions, run_id)
    assert failed.status == "failed" and "killed or crashed" in failed.message and failed.worker_alive is None
