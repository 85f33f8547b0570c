"""The fake Slack refuses what Slack refuses: unknown methods, missing scopes, invalid blocks, lost messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.fakes.slack_contract import manifest_bot_scopes


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake.api_url, retry_handlers=[])


def refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as raised:
        call()
    return dict(raised.value.response.data)


def text(kind: str, value: str) -> dict[str, str]:
    return {"type": kind, "text": value}


def button(action_id: str, label: str = "Go", value: str = "v") -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": text("plain_text", label), "value": value}


def section(value: str) -> dict[str, Any]:
    return {"type": "section", "text": text("mrkdwn", value)}


def test_an_unknown_method_is_refused_like_slack_does(client: WebClient) -> None:
    assert refusal(lambda: client.api_call("chat.postMessages", json={"channel": "C1", "text": "hi"})) == {
        "ok": False, "error": "unknown_method"}
    assert client.api_call("api.test", params={"x": "1"})["ok"]


def test_a_scope_the_manifest_does_not_grant_is_missing(fake: FakeSlack, client: WebClient) -> None:
    granted = manifest_bot_scopes()
    assert "reactions:write" not in granted and "chat:write" in granted
    reply = refusal(lambda: client.reactions_add(channel="C1", timestamp="1.1", name="eyes"))
    assert (reply["error"], reply["needed"]) == ("missing_scope", "reactions:write")
    assert set(reply["provided"].split(",")) == granted
    assert client.auth_test().headers["x-oauth-scopes"] == ",".join(sorted(granted))


def test_conversation_methods_need_the_scope_of_the_conversation_kind() -> None:
    fake = FakeSlack(scopes=frozenset({"chat:write", "channels:read", "channels:history"})).start()
    try:
        client = WebClient(token=BOT_TOKEN, base_url=fake.api_url, retry_handlers=[])
        assert client.conversations_info(channel="C1")["ok"]
        assert refusal(lambda: client.conversations_info(channel="D1"))["needed"] == "im:read"
        fake.set_channel("C9", is_private=True)
        assert refusal(lambda: client.conversations_replies(channel="C9", ts="1.1"))["needed"] == "groups:history"
    finally:
        fake.stop()


OVER_LIMIT = {
    "section text over 3,000": ([section("x" * 3001)],
                                "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"),
    "51 blocks": ([section("x")] * 51, "no more than 50 items allowed [json-pointer:/blocks]"),
    "header over 150": ([{"type": "header", "text": text("plain_text", "h" * 151)}],
                        "must be less than 151 characters [json-pointer:/blocks/0/text/text]"),
    "mrkdwn header": ([{"type": "header", "text": text("mrkdwn", "h")}],
                      "must be one of plain_text [json-pointer:/blocks/0/text/type]"),
    "11 context elements": ([{"type": "context", "elements": [text("mrkdwn", "c")] * 11}],
                            "no more than 10 items allowed [json-pointer:/blocks/0/elements]"),
    "markdown over 12,000": ([{"type": "markdown", "text": "m" * 12_001}],
                             "must be less than 12001 characters [json-pointer:/blocks/0/text]"),
    "markdown blocks over 12,000 together": ([{"type": "markdown", "text": "m" * 6_001}] * 2,
                                             "markdown blocks must total less than 12001 characters "
                                             "[json-pointer:/blocks]"),
    "markdown without text": ([{"type": "markdown"}], "missing required field: text [json-pointer:/blocks/0]"),
    "section without text or fields": ([{"type": "section"}], "must provide text or fields [json-pointer:/blocks/0]"),
    "block without a type": ([{"text": text("mrkdwn", "x")}], "missing required field: type [json-pointer:/blocks/0]"),
    "unknown block type": ([{"type": "sectoin"}], "unsupported block type: sectoin [json-pointer:/blocks/0/type]"),
    "action ids repeated in a block": ([{"type": "actions", "elements": [button("a"), button("a")]}],
                                       "action_id a already exists [json-pointer:/blocks/0/elements/1/action_id]"),
    "block ids repeated in a message": ([{**section("x"), "block_id": "b"}, {**section("y"), "block_id": "b"}],
                                        "block_id b already exists [json-pointer:/blocks/1/block_id]"),
    "button text over 75": ([{"type": "actions", "elements": [button("a", label="b" * 76)]}],
                            "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"),
    "button value over 2,000": ([{"type": "actions", "elements": [button("a", value="v" * 2001)]}],
                                "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]"),
    "empty section text": ([section("")], "must be more than 0 characters [json-pointer:/blocks/0/text/text]"),
}


@pytest.mark.parametrize("case", list(OVER_LIMIT))
@pytest.mark.parametrize("method", ["chat_postMessage", "chat_update", "chat_postEphemeral"])
def test_blocks_over_block_kit_limits_are_invalid_blocks_with_slacks_details(client: WebClient, case: str,
                                                                             method: str) -> None:
    blocks, expected = OVER_LIMIT[case]
    ts = client.chat_postMessage(channel="C1", text="placeholder")["ts"]
    arguments = {"chat_postMessage": {}, "chat_update": {"ts": ts}, "chat_postEphemeral": {"user": "U1"}}[method]
    reply = refusal(lambda: getattr(client, method)(channel="C1", text="fallback", blocks=blocks, **arguments))
    assert reply["error"] == "invalid_blocks" and expected in reply["errors"], reply
    assert f"[ERROR] {expected}" in reply["response_metadata"]["messages"]


def test_blocks_at_the_limits_are_accepted(client: WebClient) -> None:
    blocks = [section("x" * 3000), {"type": "header", "text": text("plain_text", "h" * 150)},
              {"type": "context", "elements": [text("mrkdwn", "c")] * 10},
              {"type": "actions", "elements": [button("a", label="b" * 75, value="v" * 2000), button("b")]},
              {"type": "actions", "elements": [button("a")]}]  # the same action id in another block is fine
    assert client.chat_postMessage(channel="C1", text="ok", blocks=blocks + [section("y")] * 45)["ok"]


def test_a_message_with_too_much_block_text_is_too_long(client: WebClient) -> None:
    assert refusal(lambda: client.chat_postMessage(channel="C1", text="t", blocks=[section("x" * 2500)] * 5))[
        "error"] == "msg_blocks_too_long"


def test_updating_or_deleting_a_missing_message_is_message_not_found(client: WebClient) -> None:
    assert refusal(lambda: client.chat_update(channel="C1", ts="1.000001", text="x"))["error"] == "message_not_found"
    ts = client.chat_postMessage(channel="C1", text="bye")["ts"]
    assert client.chat_delete(channel="C1", ts=ts)["ok"]
    assert refusal(lambda: client.chat_delete(channel="C1", ts=ts))["error"] == "message_not_found"
    assert refusal(lambda: client.chat_update(channel="C1", ts=ts, text="x"))["error"] == "message_not_found"


def test_a_streaming_message_cannot_be_updated_until_stopped(client: WebClient) -> None:
    ts = client.chat_startStream(channel="D1", thread_ts="1.1", markdown_text="Hel")["ts"]
    assert refusal(lambda: client.chat_update(channel="D1", ts=ts, text="x"))["error"] == "streaming_state_conflict"
    client.chat_stopStream(channel="D1", ts=ts, markdown_text="lo")
    assert client.chat_update(channel="D1", ts=ts, text="Hello")["ok"]


def test_text_limits_truncate_a_post_and_refuse_an_update(fake: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C1", text="a" * 40_001)
    assert posted["warning"] == "message_truncated" and len(fake.bot_replies("C1", posted["ts"])[0]["text"]) == 40_000
    too_long = refusal(lambda: client.chat_update(channel="C1", ts=posted["ts"], text="b" * 4001))
    assert too_long["error"] == "msg_too_long"
    assert client.chat_update(channel="C1", ts=posted["ts"], text="b" * 4000)["ok"]


def test_modal_views_are_validated_too(client: WebClient) -> None:
    view = {"type": "modal", "title": text("plain_text", "t" * 25), "blocks": [section("x")] * 101}
    reply = refusal(lambda: client.views_open(trigger_id="trig.1", view=view))
    assert "must be less than 25 characters [json-pointer:/view/title/text]" in reply["errors"]
    assert "no more than 100 items allowed [json-pointer:/view/blocks]" in reply["errors"]
