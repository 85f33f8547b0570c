"""Reading channels from Slack at a steady pace: history, replies, names, permalinks (adapter over slack_sdk).

Slack limits each Web API method per app and workspace by tier (docs.slack.dev, "Rate limits"):
`conversations.history`, `conversations.replies` and `conversations.info` are Tier 3 (50+ a minute),
`users.info` Tier 4 (100+), `usergroups.users.list` Tier 2 (20+), `chat.getPermalink` "hundreds a
minute". A backfill of thousands of threads would spend a minute's quota in a second, so every call
goes through a `Pacer` that spaces calls of one method evenly at its tier's rate (never a burst);
`rate_scale` multiplies every rate (a test against the fake Slack runs thousands of times faster).
A 429 that still happens (another process shares the quota) is retried after its `Retry-After` by
slack_sdk's `RateLimitErrorRetryHandler` on the client; when its retries run out the `SlackApiError`
reaches the sync, which records it and resumes later from where it was.

Names (`users.info`) are cached for the reader's life: a 2,000-thread backfill asks once per person.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

TIER_PER_MINUTE: dict[str, float] = {
    "conversations.history": 50.0,
    "conversations.replies": 50.0,
    "conversations.info": 50.0,
    "users.info": 100.0,
    "usergroups.users.list": 20.0,
    "chat.getPermalink": 200.0,
}
"""Calls a minute allowed per method (the low end of each tier, so a second process has headroom)."""
HISTORY_PAGE = 200
"""Messages per `conversations.history` / `.replies` page (Slack recommends ≤ 200)."""
DEFAULT_API_URL = "https://slack.com/api/"


class Pacer:
    """Spaces the calls of each method `60 / per_minute` seconds apart, across threads."""

    def __init__(self, per_minute: Mapping[str, float] = TIER_PER_MINUTE, *, rate_scale: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate_scale <= 0:
            raise ValueError(f"rate_scale must be > 0, got {rate_scale}")
        self._interval = {method: 60.0 / (rate * rate_scale) for method, rate in per_minute.items()}
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self.waited_s = 0.0
        """Total time spent waiting for a slot (what pacing cost)."""

    def wait(self, method: str) -> None:
        """Block until `method` may be called again, and take that slot."""
        interval = self._interval.get(method)
        if interval is None:
            raise KeyError(f"no rate known for {method}; add it to TIER_PER_MINUTE")
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(method, now))
            self._next[method] = slot + interval
            self.waited_s += slot - now
        if slot > now:
            self._sleep(slot - now)


class NotAMember(Exception):
    """The bot cannot read the channel: it is not a member, or the channel is gone or hidden from it."""


def make_client(token: str, *, base_url: str | None = None, rate_limit_retries: int = 5) -> WebClient:
    """A WebClient that waits out 429s (Retry-After) and retries a dropped connection once."""
    url = base_url or DEFAULT_API_URL
    return WebClient(token=token, base_url=url if url.endswith("/") else url + "/",
                     retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1),
                                     RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries)])


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or exc)


class SlackReader:
    """The reads a channel sync needs, each paced by method."""

    def __init__(self, client: WebClient, pacer: Pacer | None = None, *, page_size: int = HISTORY_PAGE) -> None:
        self.client = client
        self.pacer = pacer or Pacer()
        self.page_size = page_size
        self._names: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {}

    def _call(self, method: str, **arguments: Any) -> dict[str, Any]:
        self.pacer.wait(method)
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
        call = getattr(self.client, method.replace(".", "_"))  # the SDK's own method: its argument encoding
        return call(**arguments).data

    def channel_info(self, channel: str) -> dict[str, Any]:
        """`conversations.info`'s channel object; NotAMember when the bot cannot see it or is not in it."""
        try:
            info = self._call("conversations.info", channel=channel)["channel"]
        except SlackApiError as exc:
            if _error(exc) in ("channel_not_found", "not_in_channel"):
                raise NotAMember(channel) from exc
            raise
        if not info.get("is_member"):
            raise NotAMember(channel)
        return info

    def history(self, channel: str, *, oldest: str, latest: str | None = None) -> Iterator[dict[str, Any]]:
        """Top-level messages from the newest (before `latest`, exclusive) back to `oldest`, page by page."""
        cursor: str | None = None
        while True:
            arguments: dict[str, Any] = {"channel": channel, "oldest": oldest, "limit": self.page_size}
            if latest:
                arguments["latest"] = latest
            if cursor:
                arguments["cursor"] = cursor
            try:
                page = self._call("conversations.history", **arguments)
            except SlackApiError as exc:
                if _error(exc) in ("channel_not_found", "not_in_channel"):
                    raise NotAMember(channel) from exc
                raise
            yield from page.get("messages") or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or not cursor:
                return

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]] | None:
        """Every message of the thread, root first; None when the thread is gone (`thread_not_found`)."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            arguments: dict[str, Any] = {"channel": channel, "ts": thread_ts, "limit": self.page_size}
            if cursor:
                arguments["cursor"] = cursor
            try:
                page = self._call("conversations.replies", **arguments)
            except SlackApiError as exc:
                if _error(exc) == "thread_not_found":
                    return None
                if _error(exc) in ("channel_not_found", "not_in_channel"):
                    raise NotAMember(channel) from exc
                raise
            for message in page.get("messages") or []:
                if not messages or message.get("ts") != thread_ts:  # later pages repeat the root
                    messages.append(message)
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or not cursor:
                return messages

    def user_name(self, user: str) -> str | None:
        """The person's display name (else real name, else handle); None when Slack does not know them."""
        with self._lock:
            if user in self._names:
                return self._names[user]
        try:
            found = self._call("users.info", user=user)["user"]
        except SlackApiError as exc:
            if _error(exc) not in ("user_not_found", "user_not_visible"):
                raise
            found = {}
        profile = found.get("profile") or {}
        name = (profile.get("display_name") or profile.get("real_name") or found.get("real_name")
                or found.get("name") or None)
        with self._lock:
            self._names[user] = name
        return name

    def permalink(self, channel: str, ts: str) -> str:
        return str(self._call("chat.getPermalink", channel=channel, message_ts=ts)["permalink"])

    def group_members(self, group: str) -> list[str]:
        """Members of a user group (`usergroups.users.list`); empty when the group is gone."""
        try:
            return list(self._call("usergroups.users.list", usergroup=group)["users"])
        except SlackApiError as exc:
            if _error(exc) in ("no_such_subteam", "subteam_not_found"):
                return []
            raise
