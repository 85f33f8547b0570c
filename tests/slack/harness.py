"""The real Bolt app from `build_app`, wired to the fake Slack, real Postgres and the real embedder.

`SlackHarness.dispatch` feeds signed requests to `App.dispatch` exactly as the WSGI adapter does;
`settle()` waits until Bolt's listener pool and the bot's work pool are both idle, so tests assert
on the finished transcript without sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App, BoltResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.work import BackgroundWork
from knowledge.embedding import Embedder
from knowledge.ingest import IngestResult, ingest_text
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import ASKER, SignedRequest, SlackRequests, mention, message
from tests.scripted_generator import ScriptedGenerator

DEPLOY_DOC = ("Deploying the billing service", "# Deploying the billing service\n\nTo deploy the billing service, "
              "run `make deploy` from the repository root. Deploys need the release role in the admin console.")
DEPLOY_SUMMARY = "Run make deploy from the repository root to deploy the billing service [1]."
"""A summary sentence close enough to DEPLOY_DOC's to pass the support check (bot/support.py)."""
BACKUP_DOC = ("Database backups", "# Database backups\n\nPostgres backups run nightly at 02:00 UTC with pg_dump and "
              "are copied to the kb-backups bucket. Restores are done with pg_restore.")


def add_document(sessions: sessionmaker[Session], embedder: Embedder, title: str, text: str, *,
                 scope: str = "workspace") -> IngestResult:
    return ingest_text(sessions, embedder, title=title, text=text, fmt="markdown",
                       uri=f"https://wiki.example.com/{title.lower().replace(' ', '-')}", source="text", scope=scope)


@dataclass
class SlackHarness:
    app: App
    fake: FakeSlack
    work: BackgroundWork
    listeners: BackgroundWork
    summaries: BackgroundWork
    finishing: BackgroundWork
    generator: ScriptedGenerator
    sessions: sessionmaker[Session]
    requests: SlackRequests
    responses: list[BoltResponse] = field(default_factory=list)

    def dispatch(self, signed: SignedRequest) -> BoltResponse:
        response = self.app.dispatch(signed.bolt())
        self.responses.append(response)
        return response

    def settle(self, timeout: float = 30.0) -> None:
        """Wait for listeners, the background work they started and the summaries and finishing it handed on
        (twice: work may follow listeners)."""
        for _ in range(2):
            assert self.listeners.wait_idle(timeout), "listeners did not finish"
            assert self.work.wait_idle(timeout), "background work did not finish"
            assert self.summaries.wait_idle(timeout), "summaries did not finish"
            assert self.finishing.wait_idle(timeout), "finishing did not finish"

    def event(self, event: dict[str, Any], **kwargs: Any) -> BoltResponse:
        response = self.dispatch(self.requests.event(event, **kwargs))
        self.settle()
        return response

    def command(self, text: str, **kwargs: Any) -> BoltResponse:
        response = self.dispatch(self.requests.command(text, **kwargs))
        self.settle()
        return response

    def interact(self, payload: dict[str, Any]) -> BoltResponse:
        response = self.dispatch(self.requests.interaction(payload))
        self.settle()
        return response

    def ask(self, text: str, *, channel: str = "C1", thread_ts: str | None = None, user: str = ASKER,
            as_mention: bool = True) -> str:
        """A person posts `text` (stored in the fake's history) and Slack delivers it; returns its ts."""
        posted = self.fake.add_message(channel, f"<@UBOT> {text}" if as_mention else text, user=user,
                                       thread_ts=thread_ts)
        if as_mention:
            self.event(mention(channel, posted["ts"], text, user=user, thread_ts=thread_ts))
        else:
            channel_type = "im" if channel.startswith("D") else "channel"
            self.event(message(channel, posted["ts"], text, user=user, thread_ts=thread_ts,
                               channel_type=channel_type))
        return str(posted["ts"])

    def ask_while_full(self, text: str, *, channel: str = "C1",
                       send: Callable[[SignedRequest], int] | None = None) -> str:
        """Mention the bot while every worker of its pool is taken and nothing may wait (the pool must be
        `BackgroundWork(max_workers=1, max_queued=0)`): the question is turned away busy. Returns its ts.

        `send` delivers the signed event and returns the HTTP status (default: straight into the app; a test
        of the HTTP server posts it); it must be acknowledged with 200.
        """
        release = threading.Event()
        self.work.submit(release.wait, 30)
        try:
            posted = self.fake.add_message(channel, f"<@UBOT> {text}", user=ASKER)
            signed = self.requests.event(mention(channel, posted["ts"], text, user=ASKER))
            assert (send(signed) if send else self.dispatch(signed).status) == 200
            assert self.listeners.wait_idle(30), "listeners did not finish"
        finally:
            release.set()
        self.settle()
        return str(posted["ts"])

    def rows(self, model: type[Any]) -> list[Any]:
        """Every row of an ORM model, oldest first (the session is closed again: TRUNCATE must not wait)."""
        with self.sessions() as session:
            return list(session.scalars(select(model).order_by(model.id)))

    def final_answer(self, channel: str, thread_ts: str) -> dict[str, Any]:
        """The bot's last message in the thread, which must carry feedback buttons."""
        replies = self.fake.bot_replies(channel, thread_ts)
        assert replies, f"no bot reply in {channel}/{thread_ts}"
        answer = replies[-1]
        kinds = [block["type"] for block in answer.get("blocks") or []]
        assert "context_actions" in kinds or "actions" in kinds, f"not a finished answer: {answer}"
        return answer
