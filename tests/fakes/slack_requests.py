"""Signed inbound Slack requests (events, slash commands, interactions) and the payloads inside them.

Each builder returns a `SignedRequest`: the exact body bytes Slack would send plus headers signed
with `v0=HMAC_SHA256(secret, "v0:{ts}:{body}")`, usable in-process (`.bolt()` → `App.dispatch`) or
over HTTP (`.post(url)`). Payload shapes follow Slack's documented events and bolt-python's own
scenario tests.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlencode

from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID

SIGNING_SECRET = "test-signing-secret"
ASKER = "UASKER"
_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: str
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """Body text exactly as sent and the headers Slack would add."""

    body: str
    headers: dict[str, str]

    def bolt(self) -> BoltRequest:
        return BoltRequest(body=self.body, headers={k: [v] for k, v in self.headers.items()})

    def with_headers(self, **headers: str) -> SignedRequest:
        return replace(self, headers={**self.headers, **{k.replace("_", "-"): v for k, v in headers.items()}})

    def post(self, url: str, *, timeout: float = 10.0) -> HttpReply:
        request = urllib.request.Request(url, data=self.body.encode(), headers=self.headers, method="POST")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read().decode()
                return HttpReply(response.status, dict(response.headers), body, time.perf_counter() - started)
        except urllib.error.HTTPError as error:
            return HttpReply(error.code, dict(error.headers), error.read().decode(), time.perf_counter() - started)


class SlackRequests:
    """Builds signed requests for one app; `response_base` is where `response_url`s point."""

    def __init__(self, signing_secret: str = SIGNING_SECRET, *, response_base: str = "http://127.0.0.1:9") -> None:
        self.verifier = SignatureVerifier(signing_secret)
        self.response_base = response_base

    def sign(self, body: str, content_type: str, *, timestamp: int | None = None) -> SignedRequest:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        return SignedRequest(body, {"content-type": content_type, "x-slack-request-timestamp": ts,
                                    "x-slack-signature": self.verifier.generate_signature(timestamp=ts, body=body)})

    def event(self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None,
              timestamp: int | None = None, team_id: str = TEAM_ID) -> SignedRequest:
        """An Events API envelope for the workspace `team_id` (where the app is installed)."""
        envelope = {"token": "legacy", "team_id": team_id, "api_app_id": "A111", "type": "event_callback",
                    "event_id": event_id or f"Ev{next(_ids):08d}", "event_time": int(time.time()), "event": event,
                    "authorizations": [{"team_id": team_id, "user_id": BOT_USER_ID, "is_bot": True}]}
        signed = self.sign(json.dumps(envelope), "application/json", timestamp=timestamp)
        if retry_num is not None:
            signed = signed.with_headers(x_slack_retry_num=str(retry_num), x_slack_retry_reason="http_timeout")
        return signed

    def command(self, text: str, *, user: str = ASKER, channel: str = "C1", command: str = "/kb",
                timestamp: int | None = None) -> SignedRequest:
        n = next(_ids)
        form = {"token": "legacy", "team_id": TEAM_ID, "team_domain": "fake", "channel_id": channel,
                "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": command,
                "text": text, "api_app_id": "A111", "is_enterprise_install": "false",
                "response_url": f"{self.response_base}/response_url/{TEAM_ID}/{n}/x", "trigger_id": f"trig.{n}"}
        return self.sign(urlencode(form), "application/x-www-form-urlencoded", timestamp=timestamp)

    def interaction(self, payload: dict[str, Any]) -> SignedRequest:
        return self.sign("payload=" + quote(json.dumps(payload)), "application/x-www-form-urlencoded")


# --- event payloads -------------------------------------------------------------------------------

def mention(channel: str, ts: str, text: str, *, user: str = ASKER, thread_ts: str | None = None,
            user_team: str | None = None) -> dict[str, Any]:
    """An app_mention; `user_team` set means an asker from another organisation (Slack Connect)."""
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER_ID}> {text}", "ts": ts,
             "channel": channel, "event_ts": ts, "team": user_team or TEAM_ID}
    if user_team:
        event |= {"user_team": user_team, "source_team": user_team}
    return {**event, "thread_ts": thread_ts} if thread_ts else event


def message(channel: str, ts: str, text: str, *, user: str = ASKER, thread_ts: str | None = None,
            channel_type: str = "channel", **extra: Any) -> dict[str, Any]:
    event = {"type": "message", "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts,
             "channel_type": channel_type, "team": TEAM_ID, **extra}
    return {**event, "thread_ts": thread_ts} if thread_ts else event


def reaction(kind: str, channel: str, ts: str, name: str, *, user: str = ASKER,
             item_user: str = BOT_USER_ID) -> dict[str, Any]:
    return {"type": kind, "user": user, "reaction": name, "item_user": item_user,
            "item": {"type": "message", "channel": channel, "ts": ts}, "event_ts": f"{time.time():.6f}"}


def file_shared(channel: str, file_id: str, *, user: str = ASKER) -> dict[str, Any]:
    return {"type": "file_shared", "channel_id": channel, "file_id": file_id, "user_id": user,
            "file": {"id": file_id}, "event_ts": f"{time.time():.6f}"}


# --- interaction payloads -------------------------------------------------------------------------

def _interaction_base(user: str, channel: str | None) -> dict[str, Any]:
    n = next(_ids)
    base: dict[str, Any] = {"team": {"id": TEAM_ID, "domain": "fake"}, "user": {"id": user, "team_id": TEAM_ID},
                            "api_app_id": "A111", "token": "legacy", "trigger_id": f"trig.{n}",
                            "is_enterprise_install": False}
    if channel:
        base["channel"] = {"id": channel, "name": "general"}
    return base


def block_action(action: dict[str, Any], *, channel: str, message_ts: str, thread_ts: str | None = None,
                 user: str = ASKER, response_base: str = "http://127.0.0.1:9") -> dict[str, Any]:
    """A block_actions payload from a message the bot posted."""
    message_body = {"type": "message", "user": BOT_USER_ID, "ts": message_ts, "text": "answer"}
    if thread_ts:
        message_body["thread_ts"] = thread_ts
    return {**_interaction_base(user, channel), "type": "block_actions",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
            "message": message_body, "response_url": f"{response_base}/response_url/{TEAM_ID}/a/x",
            "actions": [{**action, "action_ts": f"{time.time():.6f}"}]}


def feedback_buttons_action(value: str, *, action_id: str, block_id: str) -> dict[str, Any]:
    """The action of a native `feedback_buttons` click (shape per bolt-js FeedbackButtonsAction)."""
    return {"type": "feedback_buttons", "action_id": action_id, "block_id": block_id, "value": value,
            "text": {"type": "plain_text", "text": "Good" if value.startswith("up") else "Bad"}}


def button_action(value: str, *, action_id: str, block_id: str = "b") -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "block_id": block_id, "value": value,
            "text": {"type": "plain_text", "text": "button"}}


def view_submission(view: dict[str, Any], values: dict[str, dict[str, dict[str, Any]]], *,
                    user: str = ASKER) -> dict[str, Any]:
    """A view_submission of the modal `view` (as the bot opened it) with `values` typed in."""
    submitted = {**view, "id": view.get("id", "V1"), "state": {"values": values}, "hash": "h"}
    return {**_interaction_base(user, None), "type": "view_submission", "view": submitted, "response_urls": []}


def view_closed(view: dict[str, Any], *, user: str = ASKER) -> dict[str, Any]:
    return {**_interaction_base(user, None), "type": "view_closed", "view": {**view, "id": view.get("id", "V1")},
            "is_cleared": False}
