"""The Slack app factory: a Bolt `App` with the dedupe middleware and every listener registered (orch).

Everything is injected: the Web API client (with its base URL and retry handlers), the session
factory, the answerer and the embedder. The same factory serves the gunicorn/WSGI process, Socket
Mode and the tests; it never reads the environment.

Threads: Bolt runs listeners on `listener_executor` (ours: `listener_threads` threads, unbounded
queue), and listeners hand slow work to `work`, a separate bounded pool, so a command's ack never
waits behind a generation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.answering import Answerer
from bot.evidence_first import NO_PAUSES, EvidenceFirst
from bot.slack import adding, commands, escalation, feedback, files, gaps, harvest, home, learn_events, questions
from bot.slack.admins import AdminCheck
from bot.slack.dedupe import event_dedupe_middleware
from bot.slack.deps import IngestOptions, SlackDeps
from bot.slack.gap_finder import GapFinder
from bot.slack.log_ids import event_log_ids
from bot.slack.queue_status import AnswerQueue
from bot.slack.scopes import ScopeResolver
from bot.slack.streaming import Replies, StreamOptions
from bot.slack.work import BackgroundWork
from knowledge.embedding import Embedder
from knowledge.schedule import DEFAULT_TRAINING_CRON

logger = logging.getLogger(__name__)


def build_app(*, client: WebClient, signing_secret: str, sessions: sessionmaker[Session], answerer: Answerer,
              embedder: Embedder, admin_user_ids: Iterable[str] = (), ingest: IngestOptions | None = None,
              streaming: StreamOptions | None = None, work: BackgroundWork | None = None,
              summaries: BackgroundWork | None = None, finishing: BackgroundWork | None = None,
              listener_executor: BackgroundWork | None = None, listener_threads: int = 8,
              process_before_response: bool = False, token_verification_enabled: bool = True,
              home_tabs: home.HomeTabs | None = None, training_cron: str = DEFAULT_TRAINING_CRON,
              evidence_first: EvidenceFirst = NO_PAUSES) -> App:
    """A ready Bolt app answering from the team's documents.

    Args:
        client: the Web API client; its base URL and retry handlers are used for every call.
        signing_secret: verifies HTTP requests (Socket Mode requests are not signed; pass "").
        admin_user_ids: who may retrain and roll back; empty means workspace admins and owners.
        work: the background pool for answering up to the evidence, ingestion and search (a new one when None).
        summaries: the pool writing answers' summaries once their evidence is shown (`deps.summaries_pool`;
            a new one for the default admission gate's places when None).
        finishing: the pool recording and finishing answers with nothing (more) to write once shown
            (`deps.finishing_pool`; a new one when None).
        listener_executor: Bolt's listener pool (a new one of `listener_threads` when None).
        token_verification_enabled: call auth.test now (False defers it to the first request).
        home_tabs: who opened the Home tab, for refreshing admins' tabs after a run (a new one when None).
        training_cron: the worker's retrain schedule (TRAINING_CRON), shown to admins on the Home tab.
        evidence_first: counts the questions waiting for their evidence, which the model pauses for
            (bot/evidence_first.py; by default nothing pauses).
    """
    work = work or BackgroundWork(max_workers=4, max_queued=32)
    app = App(client=client, signing_secret=signing_secret, process_before_response=process_before_response,
              token_verification_enabled=token_verification_enabled,
              listener_executor=listener_executor or BackgroundWork(max_workers=listener_threads, max_queued=None,
                                                                    name="kb-listener"))
    deps = SlackDeps(sessions=sessions, answerer=answerer, embedder=embedder, client=client, work=work,
                     replies=Replies(client, streaming), admins=AdminCheck(client, admin_user_ids),
                     scopes=ScopeResolver(client), queue=AnswerQueue(workers=work.workers),
                     gaps=GapFinder(sessions, embedder),
                     **({"summaries": summaries} if summaries is not None else {}),
                     **({"finishing": finishing} if finishing is not None else {}),
                     ingest=ingest or IngestOptions(), training_cron=training_cron, evidence_first=evidence_first)
    app.middleware(event_log_ids)  # first, so every line about an event carries its id
    app.middleware(event_dedupe_middleware(sessions))
    learn_events.register(app, deps)  # its middleware watches learned channels' events, after the dedupe
    questions.register(app, deps)
    feedback.register(app, deps)
    harvest.register(app, deps)
    escalation.register(app, deps)
    files.register(app, deps)
    commands.register(app, deps)
    adding.register(app, deps)
    gaps.register(app, deps)
    home.register(app, deps, home_tabs or home.HomeTabs())

    @app.error
    def log_unhandled(error: Exception, body: dict[str, Any]) -> None:
        logger.error("unhandled error for a %s payload", body.get("type"), exc_info=error)

    return app
