"""A fake of Slack's Web API on loopback: canned, stateful-enough replies and a transcript of calls.

It is a real HTTP server (stdlib `ThreadingHTTPServer` on 127.0.0.1, port 0), so the bot talks to it
through the real `slack_sdk.WebClient(base_url=fake.api_url)` and Bolt's `respond()`. Every request
is recorded as a `SlackCall`; tests read the transcript (`calls_to`, `one_call`, `wait_for`) instead
of mocking the SDK.

Facts it mirrors (see notes/slack_platform.md §9): the sync SDK always POSTs, JSON bodies for
`chat.*`/`views.*`/`assistant.*` and form bodies (nested values as JSON strings) for the rest; a
429 carries `Retry-After`; `url_private` downloads without the bot token get a 200 HTML login page;
streaming in a channel needs `recipient_user_id`/`recipient_team_id`.

It is strict where Slack is (see `slack_contract` and `block_kit`): a method it does not model is
`unknown_method`; a method whose scope the manifest does not grant is `missing_scope` (with
`needed`/`provided`); blocks over Block Kit's limits are `invalid_blocks` with Slack's per-field
errors, and blocks carrying over 12,000 characters of text `msg_blocks_too_long`; chat.update or
chat.delete of a message that does not exist is `message_not_found`, of a message still streaming
`streaming_state_conflict`; chat.update `text` over 4,000 characters is `msg_too_long`, and
chat.postMessage keeps 40,000 characters with a `message_truncated` warning. A Home tab
(`views.publish`) must be of type `home` with at most 100 valid blocks.

File uploads follow `files_upload_v2`'s three steps (docs.slack.dev, files.getUploadURLExternal and
files.completeUploadExternal): `files.getUploadURLExternal` needs `filename` and a positive `length`
(`invalid_arguments` without them, `missing_argument` for length 0, `alt_txt_too_large` over 1,000
characters) and answers an `upload_url` and `file_id`; the bytes are POSTed to that URL without a
token (HTTP 200 `OK - <length>`; a body whose size is not the declared length gets HTTP 400, the
fake's stand-in for Slack dropping the upload); `files.completeUploadExternal` takes a JSON `files`
list of `{id, title}` and answers `file_not_found` for an id not uploaded yet (or completed
already). With `channel_id` it shares the files there as one message carrying `initial_comment`;
without, the files stay private. Completed files are served by `files.info` and `url_private`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes.block_kit import (
    BLOCK_TEXT_TOTAL,
    block_errors,
    block_text_chars,
    home_view_errors,
    invalid_blocks,
    view_errors,
)
from tests.fakes.slack_contract import (
    ALT_TEXT_LIMIT,
    METHOD_SCOPES,
    POST_TEXT_LIMIT,
    UPDATE_TEXT_LIMIT,
    manifest_bot_scopes,
    missing_scope,
)
from tests.fakes.slack_history import RateTiers, history_page, replies_page

BOT_TOKEN = "xoxb-test-token"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T111"
_JSON_FIELDS = ("blocks", "view", "files", "chunks", "attachments", "metadata")


@dataclass(slots=True)
class SlackCall:
    """One request the bot made: `method` is the Web API method, or None for other paths."""

    verb: str
    path: str
    method: str | None
    auth: str
    body: Any
    status: int = 200
    reply: Any = None
    t: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class _Override:
    status: int
    payload: dict[str, Any]
    headers: dict[str, str]



class _SlackHTTPServer(ThreadingHTTPServer):
    """The stdlib threading server with a connection backlog like a real web front end's.

    `socketserver` listens with a backlog of 5: when a burst of replies opens more connections at
    once, the kernel drops the extra SYNs and each sender waits out a 1 s (then 3 s) retransmit,
    a delay Slack's own front ends never add (bench/burst.py measured those seconds as the bot's).
    """

    request_queue_size = 128

class FakeSlack:
    """The fake server; `start()` it before building the Bolt app (App calls auth.test at once)."""

    def __init__(self, *, scopes: frozenset[str] | None = None) -> None:
        self.scopes = manifest_bot_scopes() if scopes is None else scopes
        """Bot scopes granted to the install (default: the shipped manifest's)."""
        self.calls: list[SlackCall] = []
        self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.channels: dict[str, dict[str, Any]] = {}
        self.admins: set[str] = set()
        self.owners: set[str] = set()
        self.files: dict[str, dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        """The Home tab last published for each user id (views.publish)."""
        self.uploads: dict[str, dict[str, Any]] = {}
        """Uploads started with files.getUploadURLExternal and not completed yet, by file id."""
        self.latency_s: dict[str, float] = {}
        self.unsupported_elements: set[str] = set()
        """Block or element types this workspace rejects with `invalid_blocks` (e.g. feedback_buttons)."""
        self.users: dict[str, dict[str, Any]] = {}
        """People `users.info` describes by name (`add_user`); others get a bare profile."""
        self.groups: dict[str, list[str]] = {}
        """User group id → member ids (`usergroups.users.list`)."""
        self.not_member: set[str] = set()
        """Channels the bot is not in: `conversations.info` says `is_member: false`, history is `not_in_channel`."""
        self.rate_tiers: RateTiers | None = None
        self.rate_retry_after: str | None = None
        self._overrides: dict[str, list[_Override]] = defaultdict(list)
        self._condition = threading.Condition()
        self._counter = itertools.count(1)
        self.server = _SlackHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.api_url = self.base + "/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    # lifecycle ---------------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # fault injection ---------------------------------------------------------------------------
    def fail_next(self, method: str, error: str = "internal_error", *, status: int = 200,
                  retry_after: int | None = None, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with an error (status 429 means rate limited)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        payload = {"ok": False, "error": "ratelimited" if status == 429 else error}
        with self._condition:
            self._overrides[method].extend(_Override(status, payload, headers) for _ in range(times))

    # state for the bot to find -----------------------------------------------------------------
    def next_ts(self) -> str:
        n = next(self._counter)
        return f"{1_700_000_000 + n}.{n:06d}"

    def add_message(self, channel: str, text: str, *, user: str = "UASKER", ts: str | None = None,
                    thread_ts: str | None = None, **extra: Any) -> dict[str, Any]:
        """Store a message as if a person had posted it (what conversations.replies returns)."""
        message = {"type": "message", "user": user, "text": text, "ts": ts or self.next_ts(), **extra}
        if thread_ts:
            message["thread_ts"] = thread_ts
        with self._condition:
            self.messages[channel].append(message)
        return message

    def set_channel(self, channel: str, *, is_private: bool = False, is_im: bool = False, name: str | None = None,
                    is_member: bool = True) -> None:
        self.channels[channel] = {"id": channel, "name": name or channel.lower(), "is_private": is_private,
                                  "is_im": is_im, "is_channel": not is_im and not is_private, "is_group": is_private,
                                  "is_archived": False}
        if is_member:
            self.not_member.discard(channel)
        else:
            self.not_member.add(channel)

    def add_user(self, user: str, *, display_name: str = "", real_name: str = "", is_bot: bool = False) -> None:
        """A person `users.info` describes (display name first, as Slack shows it)."""
        self.users[user] = {"display_name": display_name, "real_name": real_name, "is_bot": is_bot}

    def rate_limit(self, per_minute: dict[str, int], *, window_s: float = 60.0,
                   retry_after: str | None = None) -> RateTiers:
        """Enforce Slack's rate tiers: `per_minute` calls per method in any `window_s` window, then 429.

        `retry_after` overrides the computed `Retry-After` (e.g. "0" so a test does not sleep).
        """
        self.rate_tiers = RateTiers(per_minute, window_s=window_s)
        self.rate_retry_after = retry_after
        return self.rate_tiers

    def edit_message(self, channel: str, ts: str, text: str) -> dict[str, Any]:
        """A person edits their message (what conversations.history/replies show afterwards)."""
        message = self._find(channel, ts)
        assert message is not None, f"no message {ts} in {channel}"
        with self._condition:
            message.update(text=text, edited={"user": message.get("user"), "ts": self.next_ts()})
        return message

    def delete_message(self, channel: str, ts: str) -> dict[str, Any]:
        """A person deletes a message; returns it as it was (the event's `previous_message`)."""
        message = self._find(channel, ts)
        assert message is not None, f"no message {ts} in {channel}"
        with self._condition:
            self.messages[channel].remove(message)
        return message

    def add_file(self, file_id: str, name: str, content: bytes, *, mimetype: str = "text/plain") -> dict[str, Any]:
        meta = {"id": file_id, "name": name, "title": name, "mimetype": mimetype,
                "filetype": name.rsplit(".", 1)[-1], "size": len(content),
                "url_private": f"{self.base}/files-pri/{TEAM_ID}-{file_id}/{name}",
                "url_private_download": f"{self.base}/files-pri/{TEAM_ID}-{file_id}/download/{name}"}
        self.files[file_id] = {"meta": meta, "content": content}
        return meta

    # reading the transcript --------------------------------------------------------------------
    def calls_to(self, method: str) -> list[SlackCall]:
        with self._condition:
            return [call for call in self.calls if call.method == method]

    def ok_calls_to(self, method: str) -> list[SlackCall]:
        return [call for call in self.calls_to(method) if call.status == 200 and (call.reply or {}).get("ok")]

    def one_call(self, method: str) -> SlackCall:
        """The single call of `method`; fails on zero or several."""
        calls = self.calls_to(method)
        assert len(calls) == 1, f"expected exactly one {method} call, got {len(calls)}: {[c.body for c in calls]}"
        return calls[0]

    def responses(self) -> list[dict[str, Any]]:
        """Bodies posted to `response_url`s (Bolt's `respond()`)."""
        with self._condition:
            return [call.body for call in self.calls if call.path.startswith("/response_url/")]

    def wait_until(self, predicate: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> Any:
        """Wait until `predicate()` is truthy (re-checked on every call and every 50 ms); return it."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method or c.path for c in self.calls]
                    raise AssertionError(f"timed out waiting for {what}; calls: {seen}")
                self._condition.wait(min(left, 0.05))

    def wait_for(self, method: str, count: int = 1, *, timeout: float = 10.0) -> list[SlackCall]:
        return self.wait_until(lambda: (calls := self.calls_to(method)) and len(calls) >= count and calls,
                               timeout=timeout, what=f"{count} {method} call(s)")

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Messages of a thread, root first."""
        with self._condition:
            found = [m for m in self.messages.get(channel, [])
                     if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts]
        return sorted(found, key=lambda m: float(m["ts"]))

    def bot_replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.thread(channel, thread_ts) if m.get("user") == BOT_USER_ID]

    # the Web API ---------------------------------------------------------------------------------
    def _record(self, call: SlackCall) -> None:
        with self._condition:
            self.calls.append(call)
            self._condition.notify_all()

    def _take_override(self, method: str) -> _Override | None:
        with self._condition:
            queue = self._overrides.get(method)
            return queue.pop(0) if queue else None

    def _post(self, channel: str, text: str, thread_ts: str | None, **extra: Any) -> dict[str, Any]:
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": self.next_ts(), "text": text,
                   **extra}
        if thread_ts:
            message["thread_ts"] = thread_ts
        with self._condition:
            self.messages[channel].append(message)
        return message

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._condition:
            return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """What Slack replies to `method`: unknown_method, missing_scope, or the method's own answer."""
        api = getattr(self, "api_" + method.replace(".", "_"), None)
        if api is None or method not in METHOD_SCOPES:
            return {"ok": False, "error": "unknown_method"}
        channel = str(body.get("channel") or body.get("channel_id") or "")
        refused = missing_scope(method, self.channel_kind(channel), self.scopes)
        return refused or api(body)

    def api_api_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "args": body}

    def api_auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.com/", "team": "Fake", "user": "kb", "team_id": TEAM_ID,
                "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    def channel_kind(self, channel: str) -> str:
        """"public", "private", "im" or "mpim", from `set_channel` or the id's prefix."""
        info = self.channels.get(channel) or {}
        if info.get("is_im") or channel.startswith("D"):
            return "im"
        if info.get("is_mpim"):
            return "mpim"
        return "private" if info.get("is_private") or channel.startswith("G") else "public"

    def blocks_refused(self, blocks: Any) -> dict[str, Any] | None:
        """The `invalid_blocks` reply Slack would give for `blocks`, or None when they are fine (or absent)."""
        if blocks is None:
            return None
        errors = block_errors(blocks)
        dumped = json.dumps(blocks)
        errors += [f"unsupported type: {kind} [json-pointer:/blocks]" for kind in sorted(self.unsupported_elements)
                   if f'"type": "{kind}"' in dumped]
        if errors:
            return invalid_blocks(errors)
        if block_text_chars(blocks) > BLOCK_TEXT_TOTAL:
            return {"ok": False, "error": "msg_blocks_too_long"}
        return None

    def api_chat_postMessage(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not body.get("text") and not body.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if refused := self.blocks_refused(body.get("blocks")):
            return refused
        text, warning = _posted_text(body.get("text") or "")
        message = self._post(body["channel"], text, body.get("thread_ts"), blocks=body.get("blocks"))
        return {"ok": True, "channel": body["channel"], "ts": message["ts"], "message": message, **warning}

    def api_chat_update(self, body: dict[str, Any]) -> dict[str, Any]:
        message = self._find(body.get("channel", ""), body.get("ts", ""))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if message.get("stream") == "streaming":
            return {"ok": False, "error": "streaming_state_conflict"}
        if len(body.get("text") or "") > UPDATE_TEXT_LIMIT:
            return {"ok": False, "error": "msg_too_long"}
        if refused := self.blocks_refused(body.get("blocks")):
            return refused
        with self._condition:
            message.setdefault("revisions", []).append({k: body.get(k) for k in ("text", "blocks")})
            message.update({k: body[k] for k in ("text", "blocks") if k in body})
        return {"ok": True, "channel": body["channel"], "ts": body["ts"], "text": message["text"]}

    def api_chat_delete(self, body: dict[str, Any]) -> dict[str, Any]:
        message = self._find(body.get("channel", ""), body.get("ts", ""))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        with self._condition:
            self.messages[body["channel"]].remove(message)
        return {"ok": True, "channel": body["channel"], "ts": body["ts"]}

    def api_chat_postEphemeral(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("user"):
            return {"ok": False, "error": "user_not_found"}
        if refused := self.blocks_refused(body.get("blocks")):
            return refused
        return {"ok": True, "message_ts": self.next_ts(), **_posted_text(body.get("text") or "")[1]}

    def api_chat_getPermalink(self, body: dict[str, Any]) -> dict[str, Any]:
        """A message's permalink (the method needs no scope); `message_not_found` for a message never posted."""
        channel, ts = body.get("channel", ""), body.get("message_ts", "")
        if self._find(channel, ts) is None:
            return {"ok": False, "error": "message_not_found"}
        permalink = f"https://fake.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def api_chat_startStream(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel", "")
        if not body.get("thread_ts"):
            return {"ok": False, "error": "invalid_arguments"}
        if not channel.startswith("D") and not (body.get("recipient_user_id") and body.get("recipient_team_id")):
            return {"ok": False, "error": "missing_recipient_user_id"}
        message = self._post(channel, body.get("markdown_text") or "", body["thread_ts"], stream="streaming")
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _stream_message(self, body: dict[str, Any]) -> dict[str, Any] | None:
        message = self._find(body.get("channel", ""), body.get("ts", ""))
        return message if message is not None and message.get("stream") == "streaming" else None

    def api_chat_appendStream(self, body: dict[str, Any]) -> dict[str, Any]:
        message = self._stream_message(body)
        if message is None:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        with self._condition:
            message["text"] += body.get("markdown_text") or ""
        return {"ok": True, "channel": body["channel"], "ts": body["ts"]}

    def api_chat_stopStream(self, body: dict[str, Any]) -> dict[str, Any]:
        message = self._stream_message(body)
        if message is None:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        if refused := self.blocks_refused(body.get("blocks")):
            return refused
        with self._condition:
            message["text"] += body.get("markdown_text") or ""
            message["stream"] = "completed"
            if body.get("blocks"):
                message["blocks"] = body["blocks"]
        return {"ok": True, "channel": body["channel"], "ts": body["ts"], "message": message}

    def api_assistant_threads_setStatus(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def api_reactions_add(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def api_reactions_remove(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def api_views_open(self, body: dict[str, Any]) -> dict[str, Any]:
        view = body.get("view") or {}
        if not body.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        if errors := view_errors(view):
            return invalid_blocks(errors)
        view_id = f"V{next(self._counter):05d}"
        stored = {**view, "id": view_id}
        self.views[view_id] = stored
        return {"ok": True, "view": stored}

    def api_views_update(self, body: dict[str, Any]) -> dict[str, Any]:
        view_id = body.get("view_id", "")
        if view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        if errors := view_errors(body.get("view")):
            return invalid_blocks(errors)
        self.views[view_id] = {**(body.get("view") or {}), "id": view_id}
        return {"ok": True, "view": self.views[view_id]}

    def api_views_publish(self, body: dict[str, Any]) -> dict[str, Any]:
        user = body.get("user_id", "")
        if not user:
            return {"ok": False, "error": "invalid_arguments"}
        if errors := home_view_errors(body.get("view")):
            return invalid_blocks(errors)
        view_id = f"V{next(self._counter):05d}"
        with self._condition:
            self.home_views[user] = {**body["view"], "id": view_id}
        return {"ok": True, "view": self.home_views[user]}

    def api_users_info(self, body: dict[str, Any]) -> dict[str, Any]:
        user = body.get("user", "")
        if not user:
            return {"ok": False, "error": "user_not_found"}
        known = self.users.get(user, {})
        real_name = known.get("real_name", "")
        profile = {"display_name": known.get("display_name", ""), "real_name": real_name,
                   "display_name_normalized": known.get("display_name", ""), "real_name_normalized": real_name}
        return {"ok": True, "user": {"id": user, "team_id": TEAM_ID, "name": user.lower(), "deleted": False,
                                     "real_name": real_name, "profile": profile, "is_admin": user in self.admins,
                                     "is_owner": user in self.owners, "is_bot": bool(known.get("is_bot"))}}

    def api_usergroups_users_list(self, body: dict[str, Any]) -> dict[str, Any]:
        group = body.get("usergroup", "")
        if group not in self.groups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.groups[group])}

    def api_conversations_info(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel", "")
        if channel in self.channels:
            return {"ok": True, "channel": {**self.channels[channel], "is_member": channel not in self.not_member}}
        if channel.startswith("D"):
            return {"ok": True, "channel": {"id": channel, "is_im": True, "is_private": True}}
        if channel.startswith("C"):
            return {"ok": True, "channel": {"id": channel, "name": channel.lower(), "is_channel": True,
                                            "is_private": False, "is_member": channel not in self.not_member}}
        return {"ok": False, "error": "channel_not_found"}

    def _readable(self, channel: str) -> dict[str, Any] | None:
        """The refusal for reading `channel`'s messages, or None when the bot may."""
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        return None

    def api_conversations_replies(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel", "")
        if refused := self._readable(channel):
            return refused
        with self._condition:
            messages = list(self.messages.get(channel, []))
        return replies_page(messages, body)

    def api_conversations_history(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel", "")
        if refused := self._readable(channel):
            return refused
        with self._condition:
            messages = list(self.messages.get(channel, []))
        return history_page(messages, body)

    def api_files_getUploadURLExternal(self, body: dict[str, Any]) -> dict[str, Any]:
        filename, length = body.get("filename"), str(body.get("length") or "")
        if not filename or not length.isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        if int(length) == 0:
            return {"ok": False, "error": "missing_argument"}
        if len(body.get("alt_txt") or "") > ALT_TEXT_LIMIT:
            return {"ok": False, "error": "alt_txt_too_large"}
        file_id = f"F{next(self._counter):08d}"
        with self._condition:
            self.uploads[file_id] = {"filename": filename, "length": int(length), "alt_txt": body.get("alt_txt"),
                                     "content": None}
        return {"ok": True, "upload_url": f"{self.base}/upload/v1/{file_id}", "file_id": file_id}

    def receive_upload(self, file_id: str, content: bytes) -> tuple[int, str]:
        """The upload POST to an `upload_url`: (HTTP status, body)."""
        with self._condition:
            upload = self.uploads.get(file_id)
            if upload is None:
                return 404, "upload not found"
            if len(content) != upload["length"]:
                return 400, f"expected {upload['length']} bytes, got {len(content)}"
            upload["content"] = content
        return 200, f"OK - {len(content)}"

    def api_files_completeUploadExternal(self, body: dict[str, Any]) -> dict[str, Any]:
        files = body.get("files")
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        channel = body.get("channel_id")
        with self._condition:
            if any((self.uploads.get(str(f.get("id"))) or {}).get("content") is None for f in files):
                return {"ok": False, "error": "file_not_found"}
            completed = [self._complete(self.uploads.pop(str(f["id"])), str(f["id"]), f.get("title")) for f in files]
        if channel:
            self._post(channel, body.get("initial_comment") or "", body.get("thread_ts"), files=completed,
                       upload=True)
        return {"ok": True, "files": completed}

    def _complete(self, upload: dict[str, Any], file_id: str, title: str | None) -> dict[str, Any]:
        name = upload["filename"]
        mimetype = "image/png" if name.endswith(".png") else "application/octet-stream"
        meta = self.add_file(file_id, name, upload["content"], mimetype=mimetype)
        meta.update(title=title or name, alt_txt=upload["alt_txt"])
        return meta

    def api_files_info(self, body: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(body.get("file", ""))
        return {"ok": True, "file": stored["meta"]} if stored else {"ok": False, "error": "file_not_found"}


def _posted_text(text: str) -> tuple[str, dict[str, Any]]:
    """`text` as chat.postMessage stores it, and the warning fields of its reply when it was cut."""
    if len(text) <= POST_TEXT_LIMIT:
        return text, {}
    note = f"[WARN] Your message was truncated but still posted. The `text` field accepts up to {POST_TEXT_LIMIT:,} " \
           "characters."
    return text[:POST_TEXT_LIMIT], {"warning": "message_truncated",
                                    "response_metadata": {"warnings": ["message_truncated"], "messages": [note]}}


def _decode_body(raw: bytes, content_type: str) -> Any:
    if content_type.startswith("application/json"):
        return json.loads(raw or b"{}")
    if content_type.startswith("application/x-www-form-urlencoded"):
        form: dict[str, Any] = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        for key in _JSON_FIELDS:  # the SDK sends nested values of form bodies as JSON strings
            if isinstance(form.get(key), str) and form[key][:1] in "[{":
                form[key] = json.loads(form[key])
        return form
    return raw


def _handler_class(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None,
                  content_type: str = "application/json; charset=utf-8") -> None:
            raw = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str)
                                                        else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        def _dispatch(self, verb: str) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if url.path.startswith("/upload/"):
                body: Any = raw  # file bytes, whatever Content-Type urllib put on them
            else:
                body = _decode_body(raw, (self.headers.get("Content-Type") or "").lower()) if verb == "POST" else {}
            auth = self.headers.get("Authorization", "")
            method = url.path[len("/api/"):] if url.path.startswith("/api/") else None
            call = SlackCall(verb=verb, path=url.path, method=method, auth=auth, body=body)
            if method and method in fake.latency_s:
                time.sleep(fake.latency_s[method])
            if method is None:
                self._serve_other(call, url.path, auth, body)
                return
            if auth != f"Bearer {BOT_TOKEN}":
                call.reply = {"ok": False, "error": "invalid_auth"}
                fake._record(call)
                self._send(200, call.reply)
                return
            override = fake._take_override(method)
            if override is not None:
                call.status, call.reply = override.status, override.payload
                fake._record(call)
                self._send(override.status, override.payload, override.headers)
                return
            if fake.rate_tiers is not None and (wait := fake.rate_tiers.retry_after(method)) is not None:
                call.status, call.reply = 429, {"ok": False, "error": "ratelimited"}
                fake._record(call)
                self._send(429, call.reply, {"Retry-After": fake.rate_retry_after or str(wait)})
                return
            call.reply = fake.answer(method, body if isinstance(body, dict) else {})
            fake._record(call)
            headers = {"x-oauth-scopes": ",".join(sorted(fake.scopes))} if method == "auth.test" else {}
            self._send(200, call.reply, headers)

        def _serve_other(self, call: SlackCall, path: str, auth: str, body: Any) -> None:
            fake._record(call)
            if path.startswith("/response_url/"):
                self._send(200, "ok", content_type="text/plain")
            elif path.startswith("/upload/v1/"):  # pre-signed: no token needed
                status, text = fake.receive_upload(path.rsplit("/", 1)[-1], body if isinstance(body, bytes) else b"")
                self._send(status, text, content_type="text/plain")
            elif path.startswith("/files-pri/"):
                file_id = path.split("/")[2].split("-", 1)[-1]
                stored = fake.files.get(file_id)
                if auth != f"Bearer {BOT_TOKEN}":  # real Slack answers a login page, not a 401
                    self._send(200, "<html><body>Sign in to Slack</body></html>", content_type="text/html")
                elif stored is None:
                    self._send(404, "not found", content_type="text/plain")
                else:
                    self._send(200, stored["content"], content_type=stored["meta"]["mimetype"])
            else:
                self._send(404, {"ok": False, "error": "unknown_path"})

    return Handler
