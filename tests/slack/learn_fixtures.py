"""Shared parts of the `/kb learn` tests: seeded channels on the fake Slack, a sync driver, clean tables."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.client import make_web_client
from knowledge.embedding import Embedder
from knowledge.slack_threads_client import Pacer, SlackReader
from knowledge.slack_threads_sync import ChannelSync, SyncOptions
from store.schema import Document, LearnedThread
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack

ADMIN = "UADMIN"
DANA, ERIK = "UDANA", "UERIK"
LEARN_TABLES = "learned_threads, learned_channels, forgotten_slack_users, learn_policy"


@pytest.fixture(autouse=True)
def clean_learned_tables(engine: Engine) -> Iterator[None]:
    """Learned channels outlive `sessions`' TRUNCATE (they reference nothing it empties): clear them around tests."""
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {LEARN_TABLES} RESTART IDENTITY CASCADE"))
    yield
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {LEARN_TABLES} RESTART IDENTITY CASCADE"))


def recent_ts(minutes_ago: float) -> str:
    """A Slack ts `minutes_ago` minutes before now (learning looks 12 months back by default)."""
    return f"{time.time() - minutes_ago * 60:.6f}"


@dataclass(frozen=True, slots=True)
class SeededThread:
    root: dict[str, Any]
    replies: list[dict[str, Any]]

    @property
    def ts(self) -> str:
        return str(self.root["ts"])


def seed_thread(fake: FakeSlack, channel: str, root: tuple[str, str], *replies: tuple[str, str],
                minutes_ago: float = 60.0) -> SeededThread:
    """A root (user, text) and its replies, posted `minutes_ago` minutes ago, a second apart."""
    posted = fake.add_message(channel, root[1], user=root[0], ts=recent_ts(minutes_ago))
    answers = [fake.add_message(channel, reply_text, user=user, thread_ts=posted["ts"],
                                ts=recent_ts(minutes_ago - (n + 1) / 60))
               for n, (user, reply_text) in enumerate(replies)]
    return SeededThread(posted, answers)


def seed_deploys(fake: FakeSlack) -> dict[str, SeededThread]:
    """#deploys (C1): two useful threads, a thread-less note, noise the learning must leave out."""
    fake.set_channel("C1", name="deploys")
    fake.add_user(DANA, display_name="Dana")
    fake.add_user(ERIK, real_name="Erik Lund")
    fake.admins.add(ADMIN)
    threads = {
        "staging": seed_thread(fake, "C1", (DANA, "How did we fix the staging deploy last time? It hung on the "
                                                  "database migrations."),
                               (ERIK, "Run ```make unlock-migrations``` on the bastion, the migration lock was stale, "
                                      "then redeploy."),
                               (DANA, "Thanks <@UERIK>, that worked"), minutes_ago=300),
        "certs": seed_thread(fake, "C1", (ERIK, "Where are the TLS certificates for the public load balancer "
                                                "renewed?"),
                             (DANA, "cert-manager renews them automatically every 60 days; the issuer is "
                                    "letsencrypt-prod in the ingress namespace."), minutes_ago=200),
        "note": seed_thread(fake, "C1", (DANA, "Reminder: the release freeze starts on Friday at noon, no "
                                               "production deploys until Monday morning."), minutes_ago=100),
    }
    fake.add_message("C1", "<@UNEW> has joined the channel", user="UNEW", subtype="channel_join", ts=recent_ts(90))
    fake.add_message("C1", "Deploy #4312 finished", user="UCI", bot_id="BCI", ts=recent_ts(80))
    fake.add_message("C1", "lunch?", user=DANA, ts=recent_ts(70))
    return threads


def learner(fake: FakeSlack, sessions: sessionmaker[Session], embedder: Embedder, *, page_size: int = 200,
            rate_scale: float = 10_000.0, retries: int = 3, **options: Any) -> ChannelSync:
    """What the bot's background task and the worker run, on the fake Slack (paced `rate_scale` × the tiers)."""
    client = make_web_client(BOT_TOKEN, base_url=fake.api_url, rate_limit_retries=retries)
    reader = SlackReader(client, Pacer(rate_scale=rate_scale), page_size=page_size)
    return ChannelSync(sessions, embedder, reader, SyncOptions(**{"debounce_s": 0.0, **options}))


def thread_documents(sessions: sessionmaker[Session]) -> list[Document]:
    """Documents learned from threads, oldest first."""
    with sessions() as session:
        return list(session.scalars(select(Document).where(Document.source == "slack_thread").order_by(Document.id)))


def learned_thread(sessions: sessionmaker[Session], channel: str, thread_ts: str) -> LearnedThread | None:
    with sessions() as session:
        return session.scalars(select(LearnedThread).where(LearnedThread.channel == channel,
                                                           LearnedThread.thread_ts == thread_ts)).first()
