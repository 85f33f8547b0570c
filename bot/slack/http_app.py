"""The WSGI application of the HTTP mode, from a built Bolt app (entry helper).

Layers, outermost first: `/healthz`, `/readyz` and `/metrics` (`health`, `readiness`,
`metrics_endpoint`), then the request guard
(size cap, signature, well-formed body: `request_guard`), then Bolt's `SlackRequestHandler` on
/slack/events. `bot.slack.wsgi` and the served test app both build their application here, so
what the tests serve is what production serves.
"""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.orm import Session, sessionmaker

from bot.adapter_follower import AdapterFollower
from bot.generator_protocol import Generator
from bot.slack.health import WSGIApp, with_health_check
from bot.slack.metrics_endpoint import metrics_body
from bot.slack.readiness import adapter_check, database_check, follower_check, model_check, serving
from bot.slack.request_guard import with_request_guard
from bot.slack.settings import SlackSettings


def http_application(app: App, *, settings: SlackSettings, sessions: sessionmaker[Session],
                     generator: Generator, follower: AdapterFollower | None = None) -> WSGIApp:
    """`app` served over WSGI behind the guard, with liveness, readiness and metrics endpoints.

    Args:
        follower: the process's adapter follower; /readyz then also checks that it follows and that
            the generator serves what it applied, and names the adapter served.
    """
    guarded = with_request_guard(SlackRequestHandler(app), signing_secret=settings.slack_signing_secret,
                                 max_body_bytes=settings.kb_max_request_bytes)
    return with_ops_endpoints(guarded, sessions=sessions, generator=generator, follower=follower)


def with_ops_endpoints(app: WSGIApp, *, sessions: sessionmaker[Session], generator: Generator,
                       follower: AdapterFollower | None = None) -> WSGIApp:
    """`app` behind /healthz, /readyz (database, model; follower and served adapter when given) and /metrics."""
    ready = [database_check(sessions), model_check(generator)]
    if follower is not None:
        ready += [follower_check(follower), adapter_check(follower, generator)]
    return with_health_check(app, ready=ready, metrics=metrics_body(sessions),
                             serving=(lambda: serving(follower, generator)) if follower is not None else None)
