"""Fixtures of the Slack tests: the fake Slack, the bot built by `build_app`, seeded documents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.answering import Answerer, AnsweringConfig
from bot.slack.app import build_app
from bot.slack.client import make_web_client
from bot.slack.deps import DEFAULT_GENERATION_PLACES, IngestOptions, finishing_pool, summaries_pool
from bot.slack.streaming import StreamOptions
from bot.slack.work import BackgroundWork
from knowledge.embedding import Embedder
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.fakes.slack_requests import SIGNING_SECRET, SlackRequests
from tests.scripted_generator import ScriptedGenerator
from tests.slack.harness import BACKUP_DOC, DEPLOY_DOC, SlackHarness, add_document


@pytest.fixture(autouse=True)
def _no_slack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bolt reads SLACK_* defaults (and turns on OAuth with a client id and secret); tests set their own."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_CLIENT_ID",
                 "SLACK_CLIENT_SECRET", "SLACK_API_URL", "KB_ADMIN_USER_IDS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def documents(sessions: sessionmaker[Session], embedder: Embedder) -> dict[str, int]:
    """Two workspace documents; returns their ids by title."""
    return {title: add_document(sessions, embedder, title, text).document_id for title, text in (DEPLOY_DOC,
                                                                                                  BACKUP_DOC)}


MakeBot = Callable[..., SlackHarness]


@pytest.fixture
def make_bot(fake_slack: FakeSlack, sessions: sessionmaker[Session], embedder: Embedder) -> Iterator[MakeBot]:
    """Builds the app under test; keyword arguments override build_app's (and the generator)."""
    built: list[SlackHarness] = []

    def make(*, generator: ScriptedGenerator | None = None, **overrides: Any) -> SlackHarness:
        generator = generator or ScriptedGenerator()
        work = BackgroundWork(max_workers=4, max_queued=32)
        listeners = BackgroundWork(max_workers=8, max_queued=None, name="kb-listener")
        summaries = summaries_pool(DEFAULT_GENERATION_PLACES)
        finishing = finishing_pool()
        answerer = Answerer(sessions=sessions, embedder=embedder, generator=generator,
                            config=AnsweringConfig(timeout_s=30.0))
        options: dict[str, Any] = {
            "client": make_web_client(BOT_TOKEN, base_url=fake_slack.api_url, rate_limit_retries=2),
            "signing_secret": SIGNING_SECRET, "sessions": sessions, "answerer": answerer, "embedder": embedder,
            "ingest": IngestOptions(url_allowlist=("127.0.0.1",), max_bytes=100_000, fetch_timeout_s=5.0),
            "streaming": StreamOptions(interval_s=0.05), "work": work, "listener_executor": listeners,
            "summaries": summaries, "finishing": finishing,
        }
        options.update(overrides)
        harness = SlackHarness(app=build_app(**options), fake=fake_slack, work=options["work"], listeners=listeners,
                               summaries=options["summaries"], finishing=options["finishing"],
                               generator=generator, sessions=sessions,
                               requests=SlackRequests(SIGNING_SECRET, response_base=fake_slack.base))
        built.append(harness)
        return harness

    yield make
    for harness in built:
        harness.settle()
        harness.work.shutdown()
        harness.summaries.shutdown()
        harness.finishing.shutdown()
        harness.listeners.shutdown()


@pytest.fixture
def bot(make_bot: MakeBot) -> SlackHarness:
    return make_bot()
