"""How requests reach the app: HTTP signature checks, and Socket Mode envelopes through the real handler."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.slack.blocks import HELP_TEXT
from tests.fakes.slack_requests import SignedRequest, mention
from tests.slack.conftest import MakeBot
from tests.slack.harness import SlackHarness

pytestmark = pytest.mark.usefixtures("documents")  # so an answered question reaches the generator


def posted_question(bot: SlackHarness) -> dict[str, Any]:
    ts = bot.fake.add_message("C1", "<@UBOT> When do database backups run?")["ts"]
    return mention("C1", ts, "When do database backups run?")


def test_a_correctly_signed_event_is_acked(bot: SlackHarness) -> None:
    assert bot.dispatch(bot.requests.event(posted_question(bot))).status == 200
    bot.settle()
    assert len(bot.generator.calls) == 1


def test_a_bad_signature_is_refused_with_401(bot: SlackHarness) -> None:
    signed = bot.requests.event(posted_question(bot))
    forged = signed.with_headers(x_slack_signature="v0=" + "0" * 64)
    response = bot.dispatch(forged)
    bot.settle()
    assert response.status == 401 and not bot.generator.calls


def test_a_body_changed_after_signing_is_refused(bot: SlackHarness) -> None:
    signed = bot.requests.event(posted_question(bot))
    tampered = SignedRequest(signed.body.replace("backups", "secrets"), signed.headers)
    assert bot.dispatch(tampered).status == 401


def test_a_stale_timestamp_is_refused_with_401(bot: SlackHarness) -> None:
    stale = bot.requests.event(posted_question(bot), timestamp=int(time.time()) - 600)
    response = bot.dispatch(stale)
    bot.settle()
    assert response.status == 401 and not bot.generator.calls


def test_socket_mode_envelopes_are_acked_answered_and_deduplicated(make_bot: MakeBot) -> None:
    bot = make_bot(signing_secret="")  # Socket Mode payloads are not signed
    handler = SocketModeHandler(bot.app, app_token="xapp-1-A111-test", web_client=bot.app.client)
    sent: list[dict[str, Any]] = []
    handler.client.send_message = lambda raw: sent.append(json.loads(raw))  # the websocket is the boundary

    def deliver(envelope_id: str, kind: str, payload: dict[str, Any], retry_attempt: int = 0) -> dict[str, Any]:
        handler.client.enqueue_message(json.dumps({
            "envelope_id": envelope_id, "type": kind, "payload": payload, "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "", "accepts_response_payload": kind != "events_api"}))
        ack = bot.fake.wait_until(lambda: next((a for a in sent if a["envelope_id"] == envelope_id), None),
                                  what=f"ack of {envelope_id}")
        bot.settle()
        return ack

    try:
        event = json.loads(bot.requests.event(posted_question(bot), event_id="EvSOCKET1").body)
        assert deliver("env-1", "events_api", event) == {"envelope_id": "env-1"}
        assert deliver("env-2", "events_api", event, retry_attempt=1) == {"envelope_id": "env-2"}
        command = dict(parse_qsl(bot.requests.command("help").body))
        help_ack = deliver("env-3", "slash_commands", command)
    finally:
        handler.close()
    assert len(bot.generator.calls) == 1, "the retried envelope is acked but not answered again"
    assert "[1]" in bot.final_answer("C1", event["event"]["ts"])["blocks"][0]["text"]["text"]
    assert help_ack["payload"]["text"] == HELP_TEXT
