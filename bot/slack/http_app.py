"""The WSGI application of the HTTP mode, from a built Bolt app (entry helper).

Layers, outermost first: `/healthz` and `/readyz` (`health`, `readiness`), then the request guard
(size cap, signature, well-formed body: `request_guard`), then Bolt's `SlackRequestHandler` on
/slack/events. `bot.slack.wsgi` and the served test app both build their application here, so
what the tests serve is what production serves.
"""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.orm import Session, sessionmaker

from bot.generator_protocol import Generator
from bot.slack.health import WSGIApp, with_health_check
from bot.slack.readiness import database_check, model_check
from bot.slack.request_guard import with_request_guard
from bot.slack.settings import SlackSettings


def http_application(app: App, *, settings: SlackSettings, sessions: sessionmaker[Session],
                     generator: Generator) -> WSGIApp:
    """`app` served over WSGI behind the guard, with liveness and readiness endpoints."""
    guarded = with_request_guard(SlackRequestHandler(app), signing_secret=settings.slack_signing_secret,
                                 max_body_bytes=settings.kb_max_request_bytes)
    return with_health_check(guarded, ready=[database_check(sessions), model_check(generator)])
