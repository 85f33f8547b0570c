"""The training worker's Postgres job queue: periodic retrain, bot-queued runs, one at a time (adapter: procrastinate).

Three tasks on the `training` queue, on the product's database (procrastinate's tables live in the
`procrastinate` schema created by migration 0002):

* `training.schedule` (periodic, `TRAINING_CRON`): requests a run with trigger 'schedule';
* `training.poll` (periodic, every minute by default): fails runs of dead workers and notices runs
  the bot queued (the bot only inserts `training_runs` rows; it never imports this module);
* `training.execute`: processes queued runs until none is left.

Both periodic tasks defer `training.execute` with a queueing lock, so overlapping triggers leave one
job waiting, and with a lock, so two workers never train at once. `training_runs`' own partial
unique index already merges overlapping requests into one run; the queue only decides when it runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import make_url

logger = logging.getLogger(__name__)

QUEUE = "training"
EXECUTE_TASK = "training.execute"
EXECUTE_QUEUEING_LOCK = "training.execute"
TRAINING_LOCK = "training"
PROCRASTINATE_SCHEMA = "procrastinate"


def psycopg_conninfo(database_url: str) -> str:
    """A libpq URI from a SQLAlchemy URL (drops the `+driver` suffix; keeps the password)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(*, conninfo: str, schedule_cron: str, poll_cron: str, execute: Callable[[], Any],
              request_scheduled_run: Callable[[], Any], poll: Callable[[], bool]) -> App:
    """The procrastinate App with the three training tasks bound to the given callables.

    Args:
        conninfo: libpq URI of the product database.
        schedule_cron, poll_cron: when the two periodic tasks fire.
        execute: processes every queued run (blocking; runs in a worker thread).
        request_scheduled_run: queues a run with trigger 'schedule' (or joins the open one).
        poll: recovers dead runs and says whether a run is waiting.
    """
    connector = PsycopgConnector(conninfo=conninfo,
                                 kwargs={"options": f"-c search_path={PROCRASTINATE_SCHEMA}"})
    app = App(connector=connector)

    @app.task(name=EXECUTE_TASK, queue=QUEUE, lock=TRAINING_LOCK)
    def execute_runs() -> None:
        execute()

    @app.periodic(cron=schedule_cron, periodic_id="schedule")
    @app.task(name="training.schedule", queue=QUEUE)
    async def schedule(timestamp: int) -> None:
        await asyncio.to_thread(request_scheduled_run)
        await defer_execution(app)

    @app.periodic(cron=poll_cron, periodic_id="poll")
    @app.task(name="training.poll", queue=QUEUE)
    async def poll_runs(timestamp: int) -> None:
        if await asyncio.to_thread(poll):
            await defer_execution(app)

    return app


async def defer_execution(app: App) -> int | None:
    """Defer `training.execute` unless one is already waiting; return the new job id or None."""
    try:
        return await app.configure_task(EXECUTE_TASK, queue=QUEUE, lock=TRAINING_LOCK,
                                        queueing_lock=EXECUTE_QUEUEING_LOCK).defer_async()
    except AlreadyEnqueued:
        logger.info("a training execution is already waiting; not queueing another")
        return None
