"""Who may retrain and roll back: configured user ids, else workspace admins and owners (adapter).

With KB_ADMIN_USER_IDS set, exactly those users are admins and Slack is not asked. Otherwise
`users.info` decides (`is_admin` or `is_owner`); answers are cached for a few minutes because
`/kb status` and friends may ask often, and a failed lookup counts as "not an admin".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

logger = logging.getLogger(__name__)


class AdminCheck:
    """`is_admin(user_id)` per the rule above."""

    def __init__(self, client: WebClient, admin_user_ids: Iterable[str] = (), *, cache_ttl_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._configured = frozenset(admin_user_ids)
        self._ttl_s = cache_ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    @property
    def configured(self) -> tuple[str, ...]:
        """The admins named by KB_ADMIN_USER_IDS, sorted (empty when Slack's admins and owners decide)."""
        return tuple(sorted(self._configured))

    def is_admin(self, user_id: str) -> bool:
        if self._configured:
            return user_id in self._configured
        with self._lock:
            cached = self._cache.get(user_id)
        if cached and self._clock() - cached[1] < self._ttl_s:
            return cached[0]
        try:
            user = self._client.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            logger.warning("users.info for %s failed (%s); treating as non-admin", user_id, exc.response.get("error"))
            return False
        admin = bool(user.get("is_admin") or user.get("is_owner"))
        with self._lock:
            self._cache[user_id] = (admin, self._clock())
        return admin
