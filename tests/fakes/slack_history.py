"""Channel history for the fake Slack: `conversations.history` / `.replies` pages, cursors, rate tiers (pure).

Shapes follow Slack's method pages (docs.slack.dev, conversations.history and conversations.replies)
and the SDK's response fixtures:

* `conversations.history` lists top-level messages newest first, between `oldest` and `latest`
  (both exclusive unless `inclusive`), `limit` per page (default 100, at most 999); a thread's root
  carries `thread_ts`, `reply_count`, `reply_users_count`, `reply_users` and `latest_reply`; a reply
  "also sent to the channel" (`subtype: thread_broadcast`) is listed too. A page says `has_more` and
  gives `response_metadata.next_cursor` (opaque base64); a cursor this fake did not issue is
  `invalid_cursor`.
* `conversations.replies` needs `ts` (`thread_not_found` when no such message) and lists the root,
  then its replies oldest first, `limit` per page (default 1000), paginated the same way.
* Rate tiers: `RateTiers` allows each method `per_minute` calls in any `window_s` window (a test
  shrinks the window to run a tier's pattern fast); the next call gets HTTP 429, `ratelimited`,
  and `Retry-After` in whole seconds, as Slack does.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import defaultdict, deque
from typing import Any

HISTORY_DEFAULT_LIMIT = 100
HISTORY_MAX_LIMIT = 999
REPLIES_DEFAULT_LIMIT = 1000


def encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def decode_cursor(cursor: str) -> str | None:
    """The ts a cursor continues from; None when it is not one of ours."""
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, ts = decoded.partition(":")
    return ts if prefix == "next_ts" and _is_ts(ts) else None


def _is_ts(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _limit(body: dict[str, Any], default: int, maximum: int) -> int | None:
    raw = str(body.get("limit") or default)
    if not raw.isdigit() or int(raw) < 1:
        return None
    return min(int(raw), maximum)


def _in_window(ts: str, body: dict[str, Any]) -> bool:
    inclusive = str(body.get("inclusive") or "").lower() in ("1", "true")
    value = float(ts)
    oldest = float(body.get("oldest") or 0)
    latest = float(body["latest"]) if body.get("latest") else float("inf")
    if inclusive:
        return oldest <= value <= latest
    return oldest < value < latest


def with_thread_fields(root: dict[str, Any], replies: list[dict[str, Any]]) -> dict[str, Any]:
    """The root as history and replies show it: with its reply count, repliers and latest reply."""
    if not replies:
        return dict(root)
    users = list(dict.fromkeys(r.get("user") for r in replies if r.get("user")))
    return {**root, "thread_ts": root["ts"], "reply_count": len(replies), "reply_users_count": len(users),
            "reply_users": users[:5], "latest_reply": max(replies, key=lambda r: float(r["ts"]))["ts"]}


def threads_of(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Replies by their thread's ts (roots excluded)."""
    replies: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            replies[thread_ts].append(message)
    return replies


def history_page(messages: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """One `conversations.history` reply for the channel's `messages` (see the module docstring)."""
    limit = _limit(body, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT)
    if limit is None:
        return {"ok": False, "error": "invalid_limit"}
    for name in ("oldest", "latest"):
        if body.get(name) and not _is_ts(str(body[name])):
            return {"ok": False, "error": "invalid_ts_" + name}
    start: str | None = None
    if body.get("cursor"):
        start = decode_cursor(str(body["cursor"]))
        if start is None:
            return {"ok": False, "error": "invalid_cursor"}
    replies = threads_of(messages)
    listed = [with_thread_fields(m, replies.get(m["ts"], [])) for m in messages
              if (not m.get("thread_ts") or m["thread_ts"] == m["ts"] or m.get("subtype") == "thread_broadcast")
              and _in_window(m["ts"], body)]
    listed.sort(key=lambda m: -float(m["ts"]))
    if start is not None:
        listed = [m for m in listed if float(m["ts"]) <= float(start)]
    page, rest = listed[:limit], listed[limit:]
    reply: dict[str, Any] = {"ok": True, "messages": page, "has_more": bool(rest), "pin_count": 0,
                             "channel_actions_ts": None, "channel_actions_count": 0}
    reply["response_metadata"] = {"next_cursor": encode_cursor(rest[0]["ts"]) if rest else ""}
    return reply


def replies_page(messages: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """One `conversations.replies` reply for the thread `body["ts"]` of the channel's `messages`."""
    ts = str(body.get("ts") or "")
    if not ts:
        return {"ok": False, "error": "invalid_arguments"}
    limit = _limit(body, REPLIES_DEFAULT_LIMIT, REPLIES_DEFAULT_LIMIT)
    if limit is None:
        return {"ok": False, "error": "invalid_limit"}
    target = next((m for m in messages if m["ts"] == ts), None)
    if target is None:
        return {"ok": False, "error": "thread_not_found"}
    thread_ts = target.get("thread_ts") or ts
    root = next((m for m in messages if m["ts"] == thread_ts), None)
    replies = sorted(threads_of(messages).get(thread_ts, []), key=lambda m: float(m["ts"]))
    ordered = ([with_thread_fields(root, replies)] if root else []) + replies
    ordered = [m for m in ordered if _in_window(m["ts"], body) or m["ts"] == thread_ts]
    if body.get("cursor"):
        start = decode_cursor(str(body["cursor"]))
        if start is None:
            return {"ok": False, "error": "invalid_cursor"}
        ordered = [m for m in ordered if m["ts"] != thread_ts and float(m["ts"]) >= float(start)]
    page, rest = ordered[:limit], ordered[limit:]
    return {"ok": True, "messages": page, "has_more": bool(rest),
            "response_metadata": {"next_cursor": encode_cursor(rest[0]["ts"]) if rest else ""}}


class RateTiers:
    """Per-method sliding windows: at most `per_minute[method]` calls in any `window_s` seconds."""

    def __init__(self, per_minute: dict[str, int], *, window_s: float = 60.0) -> None:
        self.per_minute = dict(per_minute)
        self.window_s = window_s
        self._calls: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.refused: dict[str, int] = defaultdict(int)

    def retry_after(self, method: str, now: float | None = None) -> int | None:
        """None when the call may go ahead (and it is counted); else the whole seconds to wait."""
        allowed = self.per_minute.get(method)
        if allowed is None:
            return None
        now = time.monotonic() if now is None else now
        with self._lock:
            calls = self._calls[method]
            while calls and now - calls[0] >= self.window_s:
                calls.popleft()
            if len(calls) < allowed:
                calls.append(now)
                return None
            self.refused[method] += 1
            return max(1, int(self.window_s - (now - calls[0]) + 0.999))
