"""The parts every listener works with, passed in once by the app factory (pure: a value).

Listeners never import a database, model or client from module state: `build_app` fills this
with what it was given, which is how tests run the real listeners on a fake Slack and a real
Postgres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.answering import Answerer
from bot.evidence_first import NO_PAUSES, EvidenceFirst
from bot.settings import GenerationSettings
from bot.slack.admins import AdminCheck
from bot.slack.gap_finder import GapFinder
from bot.slack.queue_status import AnswerQueue
from bot.slack.scopes import ScopeResolver
from bot.slack.streaming import Replies
from bot.slack.work import BackgroundWork
from knowledge.embedding import Embedder
from knowledge.schedule import DEFAULT_TRAINING_CRON


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestOptions:
    """Limits of documents added from Slack.

    Attributes:
        url_allowlist: hosts/CIDRs URL ingest may reach although private or loopback (SSRF guard).
        max_bytes: largest file, download or pasted text accepted.
        fetch_timeout_s: connect/read timeout of URL ingest and Slack file downloads.
    """

    url_allowlist: tuple[str, ...] = ()
    max_bytes: int = 20 * 1024 * 1024
    fetch_timeout_s: float = 10.0


DEFAULT_GENERATION_PLACES = GenerationSettings.model_construct().places
"""The default admission gate's places (1 running + 8 waiting), without reading the environment."""


DEFAULT_SUMMARY_NICE = GenerationSettings.model_construct().summary_nice
"""How much nicer the summaries' threads (and the generation threads they start) run, by default."""


def summaries_pool(places: int, nice: int = DEFAULT_SUMMARY_NICE) -> BackgroundWork:
    """The pool writing answers' summaries once their evidence is shown (`answer_flow.finish_answer`): one
    thread per place at the model's admission gate (`GenerationSettings.places`), nothing queued beyond,
    running `nice` nicer (KB_SUMMARY_NICE) so the next questions' evidence gets the cores first."""
    return BackgroundWork(max_workers=max(1, places), max_queued=0, name="kb-summaries", nice=nice)


FINISHING_THREADS = 2
"""Threads recording shown answers and posting their final blocks (a database write and Slack calls each)."""


def finishing_pool() -> BackgroundWork:
    """The pool finishing answers with nothing (more) to write once their first text is shown: the answer's
    record and final blocks (`answer_flow.finish_answer`), after the questions waiting for their evidence.

    Unbounded: each job is an answer already shown whose record must not be lost; the questions
    themselves are bounded by the work pool's queue (KB_SLACK_QUEUE).
    """
    return BackgroundWork(max_workers=FINISHING_THREADS, max_queued=None, name="kb-finishing")


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackDeps:
    """What the listeners need: storage, models, Slack, the work pool and the policies."""

    sessions: sessionmaker[Session]
    answerer: Answerer
    embedder: Embedder
    client: WebClient
    work: BackgroundWork
    replies: Replies
    admins: AdminCheck
    scopes: ScopeResolver
    queue: AnswerQueue
    gaps: GapFinder
    summaries: BackgroundWork = field(default_factory=lambda: summaries_pool(DEFAULT_GENERATION_PLACES))
    """Where answers' summaries are written once their evidence is shown (`summaries_pool`)."""
    finishing: BackgroundWork = field(default_factory=finishing_pool)
    """Where answers with nothing to write are recorded and finished once shown (`finishing_pool`)."""
    ingest: IngestOptions = field(default_factory=IngestOptions)
    training_cron: str = DEFAULT_TRAINING_CRON
    """The worker's retrain schedule (TRAINING_CRON), for the admins' Home tab."""
    evidence_first: EvidenceFirst = NO_PAUSES
    """Counts the mentioned questions waiting for their evidence; the in-process model pauses for them."""
