"""What kind of conversation a channel is, so which scope its documents and answers get (adapter: Slack).

Documents from public channels serve the whole workspace; documents from private channels, group
DMs and DMs serve only that conversation (`knowledge.search` then shows them to questions asked
there and nowhere else). The same rule decides which answers may train the workspace adapter: an
answer given in a public channel is recorded with the workspace scope (and `conversation_kind`
"public"), one given in a private conversation keeps that conversation's id, so its text and votes
stay out of workspace training unless an admin configures otherwise. When Slack cannot tell, the
safe answer is the narrow scope.

The kind comes from the event's own `channel_type` when Slack sends one ("channel", "group", "im",
"mpim" on message events), else from `conversations.info` (cached per channel).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from knowledge.search import conversation_scope
from store.schema import WORKSPACE_SCOPE

logger = logging.getLogger(__name__)

ConversationKind = Literal["public", "private", "im", "mpim"]
_EVENT_CHANNEL_TYPES: dict[str, ConversationKind] = {"channel": "public", "group": "private", "im": "im",
                                                     "mpim": "mpim"}


def kind_from_info(info: dict[str, object]) -> ConversationKind:
    """The kind of a `conversations.info` channel object."""
    if info.get("is_im"):
        return "im"
    if info.get("is_mpim"):
        return "mpim"
    if info.get("is_private") or info.get("is_group"):
        return "private"
    return "public"


class ScopeResolver:
    """`kind_of(channel)` and `scope_for(channel)`: WORKSPACE_SCOPE for public channels, else the channel id."""

    def __init__(self, client: WebClient, *, cache_ttl_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._ttl_s = cache_ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[ConversationKind, float]] = {}
        self._lock = threading.Lock()

    def kind_of(self, channel: str, channel_type: str | None = None) -> ConversationKind | None:
        """The conversation's kind; None when Slack could not tell (treat as private)."""
        if channel_type in _EVENT_CHANNEL_TYPES:
            return _EVENT_CHANNEL_TYPES[channel_type]
        if channel.startswith("D"):  # DM ids never need a lookup
            return "im"
        with self._lock:
            cached = self._cache.get(channel)
        if cached and self._clock() - cached[1] < self._ttl_s:
            return cached[0]
        try:
            info = self._client.conversations_info(channel=channel)["channel"]
        except SlackApiError as exc:
            logger.warning("conversations.info for %s failed (%s); treating it as private",
                           channel, exc.response.get("error"))
            return None
        kind = kind_from_info(info)
        with self._lock:
            self._cache[channel] = (kind, self._clock())
        return kind

    def scope_for(self, channel: str, channel_type: str | None = None) -> str:
        """WORKSPACE_SCOPE for a public channel, else the channel id (unknown counts as private)."""
        return conversation_scope(channel, self.kind_of(channel, channel_type))


def scope_label(scope: str) -> str:
    """How the scope is described to the user who added a document."""
    return "everyone in the workspace" if scope == WORKSPACE_SCOPE else "questions asked in this conversation only"
