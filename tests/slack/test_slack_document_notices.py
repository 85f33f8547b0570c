"""Notices the worker leaves about documents reach their recipient once, through the fake Slack."""

from __future__ import annotations

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.client import make_web_client
from bot.slack.document_notices import post_document_notices
from store.notices import add_notice, unsent_notices
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack


def client(fake: FakeSlack) -> WebClient:
    return make_web_client(BOT_TOKEN, base_url=fake.api_url, rate_limit_retries=0)


def test_a_notice_is_posted_to_its_recipient_once_and_a_refused_one_is_kept(sessions: sessionmaker[Session],
                                                                            fake_slack: FakeSlack) -> None:
    with sessions.begin() as session:
        add_notice(session, recipient="UADDER", text="The page https://wiki.example.com/old is gone.")
    fake_slack.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=0)
    assert post_document_notices(sessions, client(fake_slack)) == 0
    with sessions() as session:
        assert len(unsent_notices(session)) == 1, "a refused post is tried again"
    assert post_document_notices(sessions, client(fake_slack)) == 1
    assert post_document_notices(sessions, client(fake_slack)) == 0
    posted = fake_slack.ok_calls_to("chat.postMessage")
    assert [(c.body["channel"], c.body["text"]) for c in posted] == [
        ("UADDER", "The page https://wiki.example.com/old is gone.")]
