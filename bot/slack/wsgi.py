"""The WSGI application gunicorn serves: `gunicorn 'bot.slack.wsgi:application'` (entry).

Importing this module builds the whole process (database, embedder, generator, Slack app and
its background tasks) from the environment, once per gunicorn worker (do not use --preload: the
database pool and threads must be created after the fork). Signature verification is always on:
SLACK_SIGNING_SECRET is required, and `request_guard` refuses oversized, unsigned or malformed
requests before Bolt parses them. GET /healthz is liveness, GET /readyz readiness (database, model).
"""

from __future__ import annotations

import logging

from bot.runtime import build_runtime
from bot.settings import BotSettings
from bot.slack.health import WSGIApp
from bot.slack.http_app import http_application
from bot.slack.settings import SlackSettings
from bot.slack.wiring import start_slack_bot
from knowledge.settings import ScheduleSettings


def create_application() -> WSGIApp:
    """Read the environment and build the served application."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    slack = SlackSettings()
    slack.require("web")
    bot_settings = BotSettings()
    runtime = build_runtime(bot_settings)
    bot = start_slack_bot(settings=slack, knowledge=bot_settings.knowledge, sessions=runtime.sessions,
                          embedder=runtime.embedder, answerer=runtime.answerer,
                          training_cron=ScheduleSettings().training_cron)
    return http_application(bot.app, settings=slack, sessions=runtime.sessions, generator=runtime.generator)


application = create_application()
