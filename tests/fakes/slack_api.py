"""A fake of Slack's Web API on loopback: canned, stateful-enough replies and a transcript of calls.

It is a real HTTP server (stdlib `ThreadingHTTPServer` on 127.0.0.1, port 0), so the bot talks to it
through the real `slack_sdk.WebClient(base_url=fake.api_url)` and Bolt's `respond()`. Every request
is recorded as a `SlackCall`; tests read the transcript (`calls_to`, `one_call`, `wait_for`) instead
of mocking the SDK.

Facts it mirrors (see notes/slack_platform.md §9): the sync SDK always POSTs, JSON bodies for
`chat.*`/`views.*`/`assistant.*` and form bodies (nested values as JSON strings) for the rest; a
429 carries `Retry-After`; `url_private` downloads without the bot token get a 200 HTML login page;
streaming in a channel needs `recipient_user_id`/`recipient_team_id`.
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

BOT_TOKEN = "xoxb-test-token"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T111"
SCOPES = "app_mentions:read,chat:write,commands,reactions:read,reactions:write,files:read,channels:history," \
         "groups:history,im:history,users:read"
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


class FakeSlack:
    """The fake server; `start()` it before building the Bolt app (App calls auth.test at once)."""

    def __init__(self) -> None:
        self.calls: list[SlackCall] = []
        self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.channels: dict[str, dict[str, Any]] = {}
        self.admins: set[str] = set()
        self.owners: set[str] = set()
        self.files: dict[str, dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.latency_s: dict[str, float] = {}
        self.unsupported_elements: set[str] = set()
        """Block or element types this workspace rejects with `invalid_blocks` (e.g. feedback_buttons)."""
        self._overrides: dict[str, list[_Override]] = defaultdict(list)
        self._condition = threading.Condition()
        self._counter = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
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
                  retry_after: int | None = None) -> None:
        """Answer the next call of `method` with an error (status 429 means rate limited)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        payload = {"ok": False, "error": "ratelimited" if status == 429 else error}
        with self._condition:
            self._overrides[method].append(_Override(status, payload, headers))

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

    def set_channel(self, channel: str, *, is_private: bool = False, is_im: bool = False) -> None:
        self.channels[channel] = {"id": channel, "is_private": is_private, "is_im": is_im,
                                  "is_channel": not is_im and not is_private, "is_group": is_private}

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

    def api_auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.com/", "team": "Fake", "user": "kb", "team_id": TEAM_ID,
                "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _rejects(self, blocks: Any) -> bool:
        """Whether `blocks` use a block or element type this workspace does not support."""
        return bool(self.unsupported_elements) and any(f'"type": "{kind}"' in json.dumps(blocks or [])
                                                       for kind in self.unsupported_elements)

    def api_chat_postMessage(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if self._rejects(body.get("blocks")):
            return {"ok": False, "error": "invalid_blocks"}
        message = self._post(body["channel"], body.get("text", ""), body.get("thread_ts"), blocks=body.get("blocks"))
        return {"ok": True, "channel": body["channel"], "ts": message["ts"], "message": message}

    def api_chat_update(self, body: dict[str, Any]) -> dict[str, Any]:
        message = self._find(body.get("channel", ""), body.get("ts", ""))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if self._rejects(body.get("blocks")):
            return {"ok": False, "error": "invalid_blocks"}
        with self._condition:
            message.setdefault("revisions", []).append({k: body.get(k) for k in ("text", "blocks")})
            message.update({k: body[k] for k in ("text", "blocks") if k in body})
        return {"ok": True, "channel": body["channel"], "ts": body["ts"], "text": message["text"]}

    def api_chat_postEphemeral(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("user"):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "message_ts": self.next_ts()}

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
        if view.get("type") != "modal" or not view.get("blocks"):
            return {"ok": False, "error": "invalid_arguments"}
        view_id = f"V{next(self._counter):05d}"
        stored = {**view, "id": view_id}
        self.views[view_id] = stored
        return {"ok": True, "view": stored}

    def api_views_update(self, body: dict[str, Any]) -> dict[str, Any]:
        view_id = body.get("view_id", "")
        if view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        self.views[view_id] = {**(body.get("view") or {}), "id": view_id}
        return {"ok": True, "view": self.views[view_id]}

    def api_users_info(self, body: dict[str, Any]) -> dict[str, Any]:
        user = body.get("user", "")
        return {"ok": True, "user": {"id": user, "team_id": TEAM_ID, "is_admin": user in self.admins,
                                     "is_owner": user in self.owners, "is_bot": False}}

    def api_conversations_info(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel", "")
        if channel in self.channels:
            return {"ok": True, "channel": self.channels[channel]}
        if channel.startswith("D"):
            return {"ok": True, "channel": {"id": channel, "is_im": True, "is_private": True}}
        if channel.startswith("C"):
            return {"ok": True, "channel": {"id": channel, "is_channel": True, "is_private": False}}
        return {"ok": False, "error": "channel_not_found"}

    def api_conversations_replies(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = self.thread(body.get("channel", ""), body.get("ts", ""))
        if not messages:
            return {"ok": False, "error": "thread_not_found"}
        return {"ok": True, "messages": messages, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def api_conversations_history(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._condition:
            top = [m for m in self.messages.get(body.get("channel", ""), [])
                   if not m.get("thread_ts") or m.get("thread_ts") == m["ts"]]
        return {"ok": True, "messages": sorted(top, key=lambda m: -float(m["ts"])), "has_more": False}

    def api_files_info(self, body: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(body.get("file", ""))
        return {"ok": True, "file": stored["meta"]} if stored else {"ok": False, "error": "file_not_found"}


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
            api = getattr(fake, "api_" + method.replace(".", "_"), None)
            call.reply = api(body if isinstance(body, dict) else {}) if api else {"ok": True}
            fake._record(call)
            headers = {"x-oauth-scopes": SCOPES} if method == "auth.test" else {}
            self._send(200, call.reply, headers)

        def _serve_other(self, call: SlackCall, path: str, auth: str, body: Any) -> None:
            fake._record(call)
            if path.startswith("/response_url/"):
                self._send(200, "ok", content_type="text/plain")
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
