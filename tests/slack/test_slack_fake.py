"""The fake Slack itself behaves like Slack where the bot depends on it (so other tests mean something)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack_api import BOT_TOKEN, FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def test_wrong_token_is_refused_and_calls_are_recorded(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError, match="invalid_auth"):
        WebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()
    assert WebClient(token=BOT_TOKEN, base_url=fake.api_url).auth_test()["user_id"] == "UBOT"
    assert [c.reply["ok"] for c in fake.calls_to("auth.test")] == [False, True]


def test_injected_429_carries_retry_after(fake: FakeSlack) -> None:
    fake.fail_next("chat.update", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        WebClient(token=BOT_TOKEN, base_url=fake.api_url, retry_handlers=[]).chat_update(channel="C1", ts="1", text="x")
    assert raised.value.response.status_code == 429 and raised.value.response.headers["Retry-After"] == "7"


def test_streams_need_a_recipient_in_channels_and_concatenate(fake: FakeSlack) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=fake.api_url)
    with pytest.raises(SlackApiError, match="missing_recipient_user_id"):
        client.chat_startStream(channel="C1", thread_ts="1.1", markdown_text="a")
    ts = client.chat_startStream(channel="C1", thread_ts="1.1", markdown_text="Hello", recipient_user_id="U1",
                                 recipient_team_id="T111")["ts"]
    client.chat_appendStream(channel="C1", ts=ts, markdown_text=", world")
    client.chat_stopStream(channel="C1", ts=ts, markdown_text="!")
    assert fake.bot_replies("C1", "1.1")[0]["text"] == "Hello, world!"
    with pytest.raises(SlackApiError, match="message_not_in_streaming_state"):
        client.chat_appendStream(channel="C1", ts=ts, markdown_text="late")


def test_private_file_downloads_need_the_bot_token(fake: FakeSlack) -> None:
    meta = fake.add_file("F1", "a.txt", b"secret")
    anonymous = urllib.request.urlopen(meta["url_private"])
    assert anonymous.status == 200 and anonymous.headers["Content-Type"] == "text/html", "a sign-in page, like Slack"
    request = urllib.request.Request(meta["url_private"], headers={"Authorization": f"Bearer {BOT_TOKEN}"})
    assert urllib.request.urlopen(request).read() == b"secret"
