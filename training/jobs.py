"""The training worker's Postgres job queue: periodic retrain, bot-queued runs (adapter: procrastinate).

Three tasks on the `training` queue, on the product's database (procrastinate's tables live in the
`procrastinate` schema created by migration 0002), a fourth (`training.ranking`, periodic,
`TRAINING_RANKING_CRON`) that tunes the ranking model on the votes and deploys it
(`training.ranking_loop`), and on the `knowledge` queue `knowledge.refresh` (periodic,
`KB_REFRESH_CRON`) that re-fetches URL documents, so the same worker keeps documents fresh without a
training slot waiting behind a slow web site:

* `training.schedule` (periodic, `TRAINING_CRON`): requests a run with trigger 'schedule';
* `training.poll` (periodic, every minute by default): fails the jobs of dead workers and the runs
  they held, and notices runs the bot queued (the bot only inserts `training_runs` rows; it never
  imports this module);
* `training.execute`: processes queued runs until none is left, then defers `training.ranking` when it
  executed any (the ranking model learns from the same votes after an admin's "Retrain now").

Both periodic tasks defer `training.execute` with a queueing lock, so overlapping triggers leave one
job waiting. One run at a time is the database's guarantee, not the queue's: `training_runs` has
at most one queued-or-running row (a partial unique index) and a run is claimed under an advisory
lock that dies with its worker. The execute job deliberately takes no procrastinate `lock`: such a
lock is a 'doing' row, a worker killed with SIGKILL never clears it, and every later execute job
would wait behind it forever.

A killed worker's job is still set straight: procrastinate workers write a heartbeat, and the
poll fails 'doing' execute jobs whose worker has been silent for `stalled_after_s`
(`JobManager.get_stalled_jobs`), so the queue's history says what happened. The next run does not
wait for that: it starts at the first poll after it is queued (or at once when the cron queues it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Status
from sqlalchemy import make_url

logger = logging.getLogger(__name__)

QUEUE = "training"
REFRESH_QUEUE = "knowledge"
REFRESH_TASK = "knowledge.refresh"
RANKING_TASK = "training.ranking"
RESYNC_TASK = "knowledge.learn_resync"
"""Re-syncs every learned Slack channel (`/kb learn`, KB_LEARN_CRON) on the `knowledge` queue."""
EXECUTE_TASK = "training.execute"
EXECUTE_QUEUEING_LOCK = "training.execute"
PROCRASTINATE_SCHEMA = "procrastinate"
WORKER_HEARTBEAT_S = 10.0
"""How often a worker writes its procrastinate heartbeat (procrastinate's default)."""
STALLED_AFTER_S = 30.0
"""A worker silent for this long is dead and its jobs are failed (procrastinate's default)."""


def psycopg_conninfo(database_url: str) -> str:
    """A libpq URI from a SQLAlchemy URL (drops the `+driver` suffix; keeps the password)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(*, conninfo: str, schedule_cron: str, poll_cron: str, execute: Callable[[], Any],
              request_scheduled_run: Callable[[], Any], poll: Callable[[], bool],
              stalled_after_s: float = STALLED_AFTER_S, refresh: Callable[[], Any] | None = None,
              refresh_cron: str = "17 * * * *", resync: Callable[[], Any] | None = None,
              resync_cron: str = "43 */6 * * *", tune_ranking: Callable[[], Any] | None = None,
              ranking_cron: str = "41 4 * * 0") -> App:
    """The procrastinate App with the three training tasks bound to the given callables.

    Args:
        conninfo: libpq URI of the product database.
        schedule_cron, poll_cron: when the two periodic tasks fire (a sixth field gives seconds).
        execute: processes every queued run (blocking; runs in a worker thread); what it returns is truthy
            when it executed any, and then `training.ranking` is deferred too.
        request_scheduled_run: queues a run with trigger 'schedule' (or joins the open one).
        poll: recovers dead runs and says whether a run is waiting.
        stalled_after_s: how long a worker may miss heartbeats before its execute jobs are failed.
        refresh, refresh_cron: re-fetches the URL documents (blocking; a worker thread), and when.
        resync, resync_cron: re-syncs the learned Slack channels (blocking; a worker thread), and when.
        tune_ranking, ranking_cron: tunes and deploys the ranking model (blocking; a worker thread), and when.
    """
    connector = PsycopgConnector(conninfo=conninfo,
                                 kwargs={"options": f"-c search_path={PROCRASTINATE_SCHEMA}"})
    app = App(connector=connector)

    @app.task(name=EXECUTE_TASK, queue=QUEUE)
    async def execute_runs() -> None:
        executed = await asyncio.to_thread(execute)
        if executed and tune_ranking is not None:  # the ranking model learns from the same votes, in its own job
            await defer_ranking(app)

    @app.periodic(cron=schedule_cron, periodic_id="schedule")
    @app.task(name="training.schedule", queue=QUEUE)
    async def schedule(timestamp: int) -> None:
        await asyncio.to_thread(request_scheduled_run)
        await defer_execution(app)

    @app.periodic(cron=poll_cron, periodic_id="poll")
    @app.task(name="training.poll", queue=QUEUE)
    async def poll_runs(timestamp: int) -> None:
        await fail_stalled_jobs(app, stalled_after_s=stalled_after_s)
        if await asyncio.to_thread(poll):
            await defer_execution(app)

    if refresh is not None:
        @app.periodic(cron=refresh_cron, periodic_id="refresh")
        @app.task(name=REFRESH_TASK, queue=REFRESH_QUEUE)
        async def refresh_documents(timestamp: int) -> None:
            await asyncio.to_thread(refresh)

    if resync is not None:
        @app.periodic(cron=resync_cron, periodic_id="learn_resync")
        @app.task(name=RESYNC_TASK, queue=REFRESH_QUEUE)
        async def resync_channels(timestamp: int) -> None:
            await asyncio.to_thread(resync)

    if tune_ranking is not None:
        @app.periodic(cron=ranking_cron, periodic_id="ranking")
        @app.task(name=RANKING_TASK, queue=QUEUE, queueing_lock=RANKING_TASK)
        async def tune_ranking_model(timestamp: int = 0) -> None:
            await asyncio.to_thread(tune_ranking)

    return app


async def defer_execution(app: App) -> int | None:
    """Defer `training.execute` unless one is already waiting; return the new job id or None."""
    try:
        return await app.configure_task(EXECUTE_TASK, queue=QUEUE,
                                        queueing_lock=EXECUTE_QUEUEING_LOCK).defer_async()
    except AlreadyEnqueued:
        logger.info("a training execution is already waiting; not queueing another")
        return None


async def defer_ranking(app: App) -> int | None:
    """Defer `training.ranking` unless one is already waiting; return the new job id or None."""
    try:
        return await app.configure_task(RANKING_TASK, queue=QUEUE, queueing_lock=RANKING_TASK).defer_async(timestamp=0)
    except AlreadyEnqueued:
        logger.info("a ranking-model tuning is already waiting; not queueing another")
        return None


async def fail_stalled_jobs(app: App, *, stalled_after_s: float = STALLED_AFTER_S) -> list[int]:
    """Mark failed the 'doing' execute jobs of workers silent for `stalled_after_s`; return their ids.

    They are failed, not retried: the run they were executing is failed too (its worker died; a
    retry could die the same way), and any queued run gets a fresh execute job from the poll.
    """
    stalled = await app.job_manager.get_stalled_jobs(queue=QUEUE, task_name=EXECUTE_TASK,
                                                     seconds_since_heartbeat=stalled_after_s)
    failed: list[int] = []
    for job in stalled:
        assert job.id is not None
        try:
            await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
        except Exception as exc:  # it finished (or was failed by another poll) meanwhile
            logger.info("stalled job %d not failed: %s", job.id, exc)
            continue
        logger.warning("job %d of a dead worker (no heartbeat for %.0f s) marked failed", job.id, stalled_after_s)
        failed.append(job.id)
    return failed
