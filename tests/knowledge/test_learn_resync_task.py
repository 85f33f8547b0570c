"""The training worker re-syncs learned Slack channels on KB_LEARN_CRON, on its `knowledge` queue."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine

from training.__main__ import _channel_resync
from training.jobs import REFRESH_QUEUE, RESYNC_TASK, build_app, psycopg_conninfo


def test_the_worker_resyncs_learned_channels_on_a_schedule(engine: Engine) -> None:
    resynced: list[int] = []
    app = build_app(conninfo=psycopg_conninfo(engine.url.render_as_string(hide_password=False)),
                    schedule_cron="0 3 * * 0", poll_cron="0 4 * * 0", execute=lambda: None,
                    request_scheduled_run=lambda: None, poll=lambda: False,
                    resync=lambda: resynced.append(1), resync_cron="43 */6 * * *")
    periodic = app.periodic_registry.periodic_tasks[(RESYNC_TASK, "learn_resync")]
    assert (periodic.cron, periodic.task.queue) == ("43 */6 * * *", REFRESH_QUEUE)
    asyncio.run(app.tasks[RESYNC_TASK](timestamp=0))
    assert resynced == [1]


def test_the_resync_needs_the_bot_token_and_reads_its_schedule(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("KB_LEARN_CRON", "5 * * * *")
    assert _channel_resync(engine) == (None, "5 * * * *")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-worker")
    resync, cron = _channel_resync(engine)
    assert callable(resync) and cron == "5 * * * *"
