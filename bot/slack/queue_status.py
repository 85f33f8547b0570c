"""Questions waiting for a free answer slot: their place in line, an estimate, and the placeholder showing it (orch).

A question that cannot start at once (every worker of the pool busy) gets a message in its thread
straight away, "Queued: 3 questions ahead of yours, about 40 s", instead of nothing until a worker
picks it up. Each time a queued question starts, the placeholders of those still waiting are
edited with their new place. The estimate comes from measured answer durations (the median of
the last `window` answers) times the rounds of workers ahead; before anything is measured the
message gives the place only. When the question starts, its answer takes over the placeholder.

Edits and starts race: one worker may still be editing a placeholder ("yours is next") while another
worker starts that very question and writes its answer there. Each placeholder therefore has its own
lock: an edit reads the question's place and edits under it, and `leave` takes it before handing the
placeholder to the answer, so an edit in flight finishes first and none starts after (a stale edit
would otherwise overwrite the answer). The place is read at edit time, so it only ever moves up.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.pacing import RateBudget

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
        self._edit_locks: dict[str, threading.Lock] = {}
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
            self._edit_locks.setdefault(key, threading.Lock())
            return len(self._waiting) - 1

    def shown(self, key: str, waiting: Waiting) -> None:
        with self._lock:
            if key in self._waiting:
                self._waiting[key] = waiting

    def leave(self, key: str) -> tuple[Waiting | None, list[str]]:
        """Take `key` out of line: its placeholder, and the keys of every other shown placeholder (to move up).

        Waits for an edit of this placeholder in flight; after it returns no edit touches it again.
        """
        with self._lock:
            edit_lock = self._edit_locks.get(key)
        if edit_lock is None:
            return None, self._shown_keys()
        with edit_lock, self._lock:
            mine = self._waiting.pop(key, None)
            self._edit_locks.pop(key, None)
        return mine, self._shown_keys()

    def _shown_keys(self) -> list[str]:
        with self._lock:
            return [key for key, waiting in self._waiting.items() if waiting]

    @contextmanager
    def editing(self, key: str) -> Iterator[tuple[Waiting, int] | None]:
        """Hold `key`'s placeholder for one edit: (placeholder, questions ahead now), or None once it has left."""
        with self._lock:
            edit_lock = self._edit_locks.get(key)
        if edit_lock is None:
            yield None
            return
        with edit_lock:
            with self._lock:
                waiting = self._waiting.get(key)
                ahead = list(self._waiting).index(key) if waiting else 0
            yield (waiting, ahead) if waiting else None


def show_queued(client: WebClient, queue: AnswerQueue, key: str, *, channel: str, thread_ts: str, ahead: int) -> None:
    """Post the placeholder of a question that waits (a failure is logged: the answer still comes)."""
    try:
        response = client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=queue.describe(ahead))
        queue.shown(key, Waiting(channel, str(response["ts"])))
    except SlackApiError as exc:
        logger.warning("could not show the queue place in %s: %s", channel, exc.response.get("error"))


def move_up(client: WebClient, queue: AnswerQueue, keys: list[str], budget: RateBudget | None = None) -> None:
    """Edit the placeholders of `keys` still waiting with their place now (best effort; gone ones are skipped).

    Every start moves every waiting question up, so a burst asks for edits by the square of its size;
    `chat.update` is Tier 3 (about 50 a minute per workspace, answers' edits included). With a
    `budget` (the replies' shared budget of skippable edits) an edit goes only when it has a token:
    a place shown a little stale costs nothing, while 429s here would make the answers' own edits wait.
    """
    for key in keys:
        with queue.editing(key) as current:
            if current is None:
                continue
            if budget is not None and not budget.try_take():
                return
            item, ahead = current
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
