"""The procrastinate queue on the product database: bot-queued and scheduled runs reach the worker once, and a
job left 'doing' by a dead worker neither blocks the next run nor stays 'doing'."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from tests.runs import newest_run, queue_run, run_record
from tests.training.feedback_fixtures import LOOP
from training.jobs import (
    EXECUTE_TASK,
    QUEUE,
    RANKING_TASK,
    REFRESH_QUEUE,
    REFRESH_TASK,
    build_app,
    defer_execution,
    fail_stalled_jobs,
    psycopg_conninfo,
)
from training.pipeline import LoopPaths, has_queued_run, process_queued_runs, request_run


def _app(engine: Engine, paths: LoopPaths):
    return build_app(conninfo=psycopg_conninfo(engine.url.render_as_string(hide_password=False)),
                     schedule_cron="0 3 * * 0", poll_cron="0 4 * * 0",
                     execute=lambda: process_queued_runs(engine, paths=paths, config=LOOP),
                     request_scheduled_run=lambda: request_run(engine, paths, trigger="schedule"),
                     poll=lambda: has_queued_run(engine, paths))


def _jobs(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(
            "SELECT task_name, status::text FROM procrastinate.procrastinate_jobs ORDER BY id"))]


def test_a_run_the_bot_queued_is_picked_up_by_the_poll_and_executed_once(
        engine: Engine, sessions: sessionmaker[Session], loop_paths: LoopPaths, queue: None) -> None:
    run, _ = queue_run(sessions, trigger="admin", requested_by="UADMIN", notify_channel="C1")
    app = _app(engine, loop_paths)

    async def scenario() -> None:
        async with app.open_async():
            poll = app.tasks["training.poll"]
            await poll(timestamp=0)
            await poll(timestamp=60)  # overlapping triggers: the queueing lock keeps one job waiting
            assert _jobs(engine) == [("training.execute", "todo")]
            await app.run_worker_async(queues=[QUEUE], wait=False, install_signal_handlers=False,
                                       listen_notify=False)

    asyncio.run(scenario())
    assert _jobs(engine) == [("training.execute", "succeeded")]
    finished = run_record(sessions, run.id)
    assert finished.status == "skipped" and "no rated answers" in finished.message  # empty feedback


def test_the_schedule_requests_a_run_and_queues_its_execution(
        engine: Engine, sessions: sessionmaker[Session], loop_paths: LoopPaths, queue: None) -> None:
    app = _app(engine, loop_paths)

    async def scenario() -> None:
        async with app.open_async():
            await app.tasks["training.schedule"](timestamp=0)
            await app.tasks["training.schedule"](timestamp=0)
            assert await defer_execution(app) is None  # already waiting

    asyncio.run(scenario())
    run = newest_run(sessions)
    assert run is not None and run.trigger == "schedule" and run.status == "queued"
    assert _jobs(engine) == [("training.execute", "todo")]


def test_the_poll_queues_nothing_when_no_run_waits(engine: Engine, loop_paths: LoopPaths, queue: None) -> None:
    app = _app(engine, loop_paths)

    async def scenario() -> None:
        async with app.open_async():
            await app.tasks["training.poll"](timestamp=0)

    asyncio.run(scenario())
    assert _jobs(engine) == []


def test_the_worker_registers_a_periodic_schedule_from_the_cron_setting(engine: Engine,
                                                                         loop_paths: LoopPaths) -> None:
    app = _app(engine, loop_paths)
    crons = {task.task.name: task.cron for task in app.periodic_registry.periodic_tasks.values()}
    assert crons == {"training.schedule": "0 3 * * 0", "training.poll": "0 4 * * 0"}


def test_a_job_left_doing_by_a_dead_worker_blocks_nothing_and_is_failed_once_its_heartbeat_is_stale(
        engine: Engine, sessions: sessionmaker[Session], loop_paths: LoopPaths, queue: None) -> None:
    app = _app(engine, loop_paths)

    async def scenario() -> None:
        async with app.open_async():
            # A worker takes an execute job and dies without a word (what SIGKILL leaves behind).
            await defer_execution(app)
            dead_worker = await app.job_manager.register_worker()
            stale = await app.job_manager.fetch_job(queues=[QUEUE], worker_id=dead_worker)
            assert stale is not None and stale.task_name == EXECUTE_TASK
            assert await fail_stalled_jobs(app, stalled_after_s=30) == []  # its heartbeat is still fresh

            # The next run is queued and executed all the same: the stale job holds no lock.
            queue_run(sessions, trigger="admin", requested_by="UADMIN", notify_channel="C1")
            await app.tasks["training.poll"](timestamp=0)
            await app.run_worker_async(queues=[QUEUE], wait=False, install_signal_handlers=False,
                                       listen_notify=False)
            assert _jobs(engine) == [("training.execute", "doing"), ("training.execute", "succeeded")]

            await asyncio.sleep(1.1)
            assert await fail_stalled_jobs(app, stalled_after_s=1) == [stale.id]
            assert await fail_stalled_jobs(app, stalled_after_s=1) == []

    asyncio.run(scenario())
    assert _jobs(engine) == [("training.execute", "failed"), ("training.execute", "succeeded")]
    assert newest_run(sessions).status == "skipped"  # the run itself: no feedback in this test


def test_the_worker_refreshes_url_documents_on_its_own_queue_on_a_schedule(engine: Engine) -> None:
    refreshed: list[int] = []
    app = build_app(conninfo=psycopg_conninfo(engine.url.render_as_string(hide_password=False)),
                    schedule_cron="0 3 * * 0", poll_cron="0 4 * * 0", execute=lambda: None,
                    request_scheduled_run=lambda: None, poll=lambda: False,
                    refresh=lambda: refreshed.append(1), refresh_cron="17 * * * *")
    periodic = app.periodic_registry.periodic_tasks[(REFRESH_TASK, "refresh")]
    assert (periodic.cron, periodic.task.queue) == ("17 * * * *", REFRESH_QUEUE)
    asyncio.run(app.tasks[REFRESH_TASK](timestamp=0))
    assert refreshed == [1]


def test_the_ranking_model_is_tuned_on_its_schedule_and_in_its_own_job_after_executed_runs(
        engine: Engine, sessions: sessionmaker[Session], loop_paths: LoopPaths, queue: None) -> None:
    tuned: list[str] = []
    app = build_app(conninfo=psycopg_conninfo(engine.url.render_as_string(hide_password=False)),
                    schedule_cron="0 3 * * 0", poll_cron="0 4 * * 0",
                    execute=lambda: process_queued_runs(engine, paths=loop_paths, config=LOOP),
                    request_scheduled_run=lambda: None, poll=lambda: has_queued_run(engine, loop_paths),
                    tune_ranking=lambda: tuned.append("tuned"), ranking_cron="41 4 * * 0")
    periodic = app.periodic_registry.periodic_tasks[(RANKING_TASK, "ranking")]
    assert (periodic.cron, periodic.task.queue) == ("41 4 * * 0", QUEUE)

    async def scenario() -> None:
        async with app.open_async():
            await app.tasks["training.poll"](timestamp=0)  # nothing queued: no execution, no tuning
            await defer_execution(app)
            await app.run_worker_async(queues=[QUEUE], wait=False, install_signal_handlers=False,
                                       listen_notify=False)
            assert tuned == [], "an execution that ran no run tunes nothing"
            queue_run(sessions, trigger="admin", requested_by="UADMIN", notify_channel=None)
            await app.tasks["training.poll"](timestamp=60)
            await app.run_worker_async(queues=[QUEUE], wait=False, install_signal_handlers=False,
                                       listen_notify=False)

    asyncio.run(scenario())
    assert tuned == ["tuned"], "the admin's run is followed by one tuning of the ranking model"
    assert _jobs(engine) == [("training.execute", "succeeded"), ("training.execute", "succeeded"),
                             (RANKING_TASK, "succeeded")]
