"""Which scope a document added in a conversation gets (adapter over conversations.info).

Documents from public channels serve the whole workspace; documents from private channels, group
DMs and DMs serve only that conversation (`knowledge.search` then shows them to questions asked
there and nowhere else). When Slack cannot tell, the safe answer is the narrow scope.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from knowledge.schema import WORKSPACE_SCOPE

logger = logging.getLogger(__name__)


class ScopeResolver:
    """`scope_for(channel)`: WORKSPACE_SCOPE for public channels, else the channel id (cached)."""

    def __init__(self, client: WebClient, *, cache_ttl_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._ttl_s = cache_ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def scope_for(self, channel: str) -> str:
        if channel.startswith("D"):  # DM ids never need a lookup
            return channel
        with self._lock:
            cached = self._cache.get(channel)
        if cached and self._clock() - cached[1] < self._ttl_s:
            return cached[0]
        try:
            info = self._client.conversations_info(channel=channel)["channel"]
        except SlackApiError as exc:
            logger.warning("conversations.info for %s failed (%s); keeping its documents private to it",
                           channel, exc.response.get("error"))
            return channel
        private = info.get("is_private") or info.get("is_im") or info.get("is_mpim") or info.get("is_group")
        scope = channel if private else WORKSPACE_SCOPE
        with self._lock:
            self._cache[channel] = (scope, self._clock())
        return scope


def scope_label(scope: str) -> str:
    """How the scope is described to the user who added a document."""
    return "everyone in the workspace" if scope == WORKSPACE_SCOPE else "questions asked in this conversation only"
