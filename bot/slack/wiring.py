"""One running Slack bot process: client, app, pools and background tasks from settings (entry helper).

Entry points (`wsgi.py`, `python -m bot.slack socket`, the test and bench app modules) read their
settings and build the answering parts, then call `start_slack_bot`; this module itself reads no
environment. It starts the training-run reporter, the poster of document notices (a re-fetched
page that is gone) and the purge of old delivery claims, and
`SlackBot.close()` stops them and drains the work pool.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from slack_bolt import App
from sqlalchemy.orm import Session, sessionmaker

from bot.answering import Answerer
from bot.evidence_first import NO_PAUSES, EvidenceFirst
from bot.slack.app import build_app
from bot.slack.background import PeriodicTask
from bot.slack.client import make_web_client
from bot.slack.deps import (
    DEFAULT_GENERATION_PLACES,
    DEFAULT_SUMMARY_NICE,
    IngestOptions,
    finishing_pool,
    summaries_pool,
)
from bot.slack.document_notices import post_document_notices
from bot.slack.home import HomeTabs
from bot.slack.reporting import report_finished_runs
from bot.slack.settings import SlackSettings
from bot.slack.streaming import StreamOptions
from bot.slack.work import BackgroundWork
from knowledge.embedding import Embedder
from knowledge.schedule import DEFAULT_TRAINING_CRON
from knowledge.settings import KnowledgeSettings
from knowledge.slack_threads_client import SlackReader
from knowledge.slack_threads_settings import LearnSettings
from knowledge.slack_threads_sync import ChannelSync
from store.pending_reactions import purge_reactions
from store.slack_events import purge_events

logger = logging.getLogger(__name__)

PURGE_INTERVAL_S = 3600.0


@dataclass(slots=True, kw_only=True)
class SlackBot:
    """The app plus what runs beside it in this process."""

    app: App
    work: BackgroundWork
    summaries: BackgroundWork | None = None
    finishing: BackgroundWork | None = None
    tasks: list[PeriodicTask] = field(default_factory=list)

    def close(self, timeout_s: float = 30.0) -> None:
        for task in self.tasks:
            task.stop()
        for pool in (self.work, self.summaries, self.finishing):  # answers first: they hand the rest on
            if pool is not None:
                pool.wait_idle(timeout_s)
                pool.shutdown(wait=False)


def ingest_options(knowledge: KnowledgeSettings) -> IngestOptions:
    return IngestOptions(url_allowlist=tuple(knowledge.allowlist_entries()), max_bytes=knowledge.max_document_bytes,
                         fetch_timeout_s=knowledge.fetch_timeout_s)


def start_slack_bot(*, settings: SlackSettings, knowledge: KnowledgeSettings, sessions: sessionmaker[Session],
                    embedder: Embedder, answerer: Answerer, signing_secret: str | None = None,
                    background: bool = True, training_cron: str = DEFAULT_TRAINING_CRON,
                    learn: LearnSettings | None = None,
                    generation_places: int = DEFAULT_GENERATION_PLACES,
                    summary_nice: int = DEFAULT_SUMMARY_NICE,
                    evidence_first: EvidenceFirst = NO_PAUSES) -> SlackBot:
    """Build the app for this process and start its background tasks.

    Args:
        signing_secret: overrides settings.slack_signing_secret ("" in Socket Mode).
        training_cron: the worker's retrain schedule (`ScheduleSettings.training_cron`), shown to admins.
        learn: the `/kb learn` section (KB_LEARN_*); None: its defaults.
        background: start the reporter and purge threads (tests of the app alone pass False).
        generation_places: `GenerationSettings.places` (KB_MAX_CONCURRENT_GENERATIONS +
            KB_MAX_WAITING_GENERATIONS): the threads writing summaries once the evidence is shown.
        summary_nice: how much nicer those threads run (`GenerationSettings.summary_nice`).
        evidence_first: the count of questions waiting for their evidence that this process's model
            pauses for (`Runtime.evidence_first`).
    """
    client = make_web_client(settings.slack_bot_token, base_url=settings.slack_api_url or None)
    work = BackgroundWork(max_workers=settings.kb_slack_workers, max_queued=settings.kb_slack_queue)
    summaries = summaries_pool(generation_places, summary_nice)
    finishing = finishing_pool()
    home_tabs = HomeTabs()
    app = build_app(
        client=client, sessions=sessions, answerer=answerer, embedder=embedder,
        signing_secret=settings.slack_signing_secret if signing_secret is None else signing_secret,
        admin_user_ids=settings.admin_ids(), ingest=ingest_options(knowledge), work=work, summaries=summaries,
        finishing=finishing, listener_threads=settings.kb_listener_threads, home_tabs=home_tabs,
        training_cron=training_cron, evidence_first=evidence_first,
        streaming=StreamOptions(mode=settings.kb_stream_mode, interval_s=settings.kb_stream_interval_s,
                                feedback=settings.kb_feedback_style))
    bot = SlackBot(app=app, work=work, summaries=summaries, finishing=finishing)

    def purge_claims() -> None:
        with sessions() as session, session.begin():
            purge_events(session)
            purge_reactions(session)  # held for bot messages that never became answers

    def report_runs() -> None:
        report_finished_runs(sessions, client, admin_channel=settings.kb_admin_channel.strip() or None)
        home_tabs.refresh_after_runs()  # a run's outcome changes the admins' Home tab (once, from one process)

    learn = learn or LearnSettings.model_construct()  # the defaults, without reading the environment
    if background:
        bot.tasks = [
            PeriodicTask("kb-training-reporter", settings.kb_report_interval_s, report_runs).start(),
            PeriodicTask("kb-claim-purge", PURGE_INTERVAL_S, purge_claims).start(),
            PeriodicTask("kb-document-notices", settings.kb_report_interval_s,
                         lambda: post_document_notices(sessions, client)).start(),
            # learned channels: continue backfills, rebuild the threads events marked (KB_LEARN_POLL_S)
            PeriodicTask("kb-channel-learning", learn.poll_s,
                         ChannelSync(sessions, embedder, SlackReader(client, learn.pacer()),
                                     learn.sync_options()).run_pending).start(),
        ]
    logger.info("Slack bot ready (API %s, stream mode %s)", client.base_url, settings.kb_stream_mode)
    return bot
