"""Questions waiting for a free answer slot: their place in line, an estimate, and the placeholder showing it (orch).

A question that cannot start at once (every worker of the pool busy) gets a message in its thread
straight away, "Queued: 3 questions ahead of yours, about 40 s", instead of nothing until a worker
picks it up. Each time a queued question starts, the placeholders of those still waiting are
edited with their new place. The estimate comes from measured answer durations (the median of
the last `window` answers) times the rounds of workers ahead; before anything is measured the
message gives the place only. When the question starts, its answer takes over the placeholder.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Waiting:
    """A queued question's placeholder message."""

    channel: str
    ts: str


class AnswerQueue:
    """The waiting line in submission order, plus recent answer durations for estimates."""

    def __init__(self, *, workers: int, window: int = 20) -> None:
        self.workers = max(1, workers)
        self._durations: deque[float] = deque(maxlen=window)
        self._waiting: OrderedDict[str, Waiting | None] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        """One answer took `seconds` from start to final message."""
        with self._lock:
            self._durations.append(seconds)

    def estimate_s(self, ahead: int) -> float | None:
        """Seconds until a question with `ahead` questions waiting before it is answered; None before any measure."""
        with self._lock:
            if not self._durations:
                return None
            typical = statistics.median(self._durations)
        return typical * math.ceil((ahead + 1) / self.workers) + typical

    def describe(self, ahead: int) -> str:
        """The placeholder text for a question with `ahead` questions before it."""
        place = f"{ahead} question{'s' if ahead != 1 else ''} ahead of yours" if ahead else "yours is next"
        estimate = self.estimate_s(ahead)
        about = f", about {max(1, round(estimate))} s" if estimate is not None else ""
        return f"_Queued: {place}{about}. I'll answer here._"

    def join(self, key: str) -> int:
        """Put `key` in line; returns how many questions wait before it."""
        with self._lock:
            self._waiting[key] = None
            return len(self._waiting) - 1

    def shown(self, key: str, waiting: Waiting) -> None:
        with self._lock:
            if key in self._waiting:
                self._waiting[key] = waiting

    def leave(self, key: str) -> tuple[Waiting | None, list[tuple[Waiting, int]]]:
        """Take `key` out of line: its placeholder, and every other shown placeholder with its new place."""
        with self._lock:
            mine = self._waiting.pop(key, None)
            others = [(waiting, ahead) for ahead, waiting in enumerate(self._waiting.values()) if waiting]
        return mine, others


def show_queued(client: WebClient, queue: AnswerQueue, key: str, *, channel: str, thread_ts: str, ahead: int) -> None:
    """Post the placeholder of a question that waits (a failure is logged: the answer still comes)."""
    try:
        response = client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=queue.describe(ahead))
        queue.shown(key, Waiting(channel, str(response["ts"])))
    except SlackApiError as exc:
        logger.warning("could not show the queue place in %s: %s", channel, exc.response.get("error"))


def move_up(client: WebClient, queue: AnswerQueue, waiting: list[tuple[Waiting, int]]) -> None:
    """Edit the placeholders still waiting with their new place (best effort)."""
    for item, ahead in waiting:
        try:
            client.chat_update(channel=item.channel, ts=item.ts, text=queue.describe(ahead))
        except SlackApiError as exc:
            logger.info("queue place not updated in %s: %s", item.channel, exc.response.get("error"))


def withdraw(client: WebClient, waiting: Waiting) -> None:
    """Delete the placeholder of a question that was refused after all (best effort)."""
    try:
        client.chat_delete(channel=waiting.channel, ts=waiting.ts)
    except SlackApiError as exc:
        logger.info("queue placeholder not withdrawn in %s: %s", waiting.channel, exc.response.get("error"))
