"""The WSGI app gunicorn serves in the multi-process tests (test entry point).

It is the production wiring (`start_slack_bot`, `http_application`: guard, Bolt handler, health
and readiness) with the one difference that generation is scripted: tests need known answers and
no model download. It
reads the environment like `bot.slack.wsgi` does, plus KB_TEST_TOKEN_DELAY_S for the scripted
generator's pace, and tags every response with the worker's pid so tests can see which process
answered.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from bot.answering import Answerer
from bot.slack.health import WSGIApp
from bot.slack.http_app import http_application
from bot.slack.settings import SlackSettings
from bot.slack.wiring import start_slack_bot
from knowledge.embedding import SentenceTransformerEmbedder
from knowledge.settings import KnowledgeSettings
from store.database import make_engine, make_session_factory
from tests.scripted_generator import ScriptedGenerator


def with_worker_pid(app: WSGIApp) -> WSGIApp:
    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def tagged(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            return start_response(status, [*headers, ("X-Worker-Pid", str(os.getpid()))], *args)

        return app(environ, tagged)

    return application


def create_application() -> WSGIApp:
    logging.basicConfig(level=logging.INFO, format="%(process)d %(levelname)s %(name)s: %(message)s")
    slack = SlackSettings()
    slack.require("web")
    sessions = make_session_factory(make_engine(os.environ["DATABASE_URL"]))
    embedder = SentenceTransformerEmbedder()
    generator = ScriptedGenerator(delay_s=float(os.environ.get("KB_TEST_TOKEN_DELAY_S", "0")))
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=generator)
    bot = start_slack_bot(settings=slack, knowledge=KnowledgeSettings(), sessions=sessions, embedder=embedder,
                          answerer=answerer)
    return with_worker_pid(http_application(bot.app, settings=slack, sessions=sessions, generator=generator))


application = create_application()
