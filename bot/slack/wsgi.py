"""The WSGI application gunicorn serves: `gunicorn 'bot.slack.wsgi:application'` (entry).

Importing this module builds the whole process (database, embedder, generator, Slack app and
its background tasks) from the environment, once per gunicorn worker (do not use --preload: the
database pool and threads must be created after the fork). Signature verification is always on:
SLACK_SIGNING_SECRET is required, and `request_guard` refuses oversized, unsigned or malformed
requests before Bolt parses them. GET /healthz is liveness, GET /readyz readiness (database, model).
"""

from __future__ import annotations

from bot.evidence_first import sibling_folder
from bot.runtime import build_runtime
from bot.settings import BotSettings
from bot.slack.health import WSGIApp
from bot.slack.http_app import http_application
from bot.slack.settings import SlackSettings
from bot.slack.wiring import start_slack_bot
from knowledge.settings import ScheduleSettings
from knowledge.slack_threads_settings import LearnSettings
from store.log_format import configure_from_settings
from store.process_heartbeats import HeartbeatWriter


def create_application() -> WSGIApp:
    """Read the environment and build the served application."""
    bot_settings = BotSettings()
    configure_from_settings(bot_settings.logging, server=True)
    slack = SlackSettings()
    slack.require("web")
    # gunicorn's workers share the host's cores: each one's model pauses for all their waiting questions
    runtime = build_runtime(bot_settings, evidence_siblings=sibling_folder())
    HeartbeatWriter(runtime.sessions, kind="web", served=runtime.served).start()  # ages out when the worker dies
    bot = start_slack_bot(settings=slack, knowledge=bot_settings.knowledge, sessions=runtime.sessions,
                          embedder=runtime.embedder, answerer=runtime.answerer,
                          training_cron=ScheduleSettings().training_cron, learn=LearnSettings(),
                          generation_places=bot_settings.generation.places,
                          summary_nice=bot_settings.generation.summary_nice,
                          evidence_first=runtime.evidence_first)
    return http_application(bot.app, settings=slack, sessions=runtime.sessions, generator=runtime.generator,
                            follower=runtime.follower)


application = create_application()
