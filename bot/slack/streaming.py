"""Writing one answer into a Slack thread while it is generated (adapter over the Slack Web API).

Two ways, chosen per answer by `Replies.start`:

* native: set the thread status at once (`assistant.threads.setStatus`), open a stream with
  `chat.startStream` on the first text, `chat.appendStream` at most once per interval, then
  `chat.stopStream`. Slack only offers this to AI-enabled apps, and each workspace decides: the
  first refusal of either call that says the feature is unavailable is remembered for that
  workspace (team id), whose later answers go the other way at once instead of failing once per
  answer; this answer continues there without losing text. Streams name the asker and the
  asker's own team (`recipient_team_id`), which in a Slack Connect channel is not the workspace
  the app is installed in.
* update: post a placeholder at once, `chat.update` it at most once per interval (shared per-minute
  budget, see `pacing`), and stop intermediate edits after a failed one (e.g. a 429 the retry
  handler gave up on).

Either way the answer ends with one `chat.update` carrying the final blocks (text with citations,
sources, model, feedback buttons), followed by one message per further page of an answer too long
for one message (`answer_pages`). If Slack rejects native `feedback_buttons`, the blocks are rebuilt
with classic buttons and the process remembers that.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import THINKING, Blocks, FeedbackStyle, fallback_text, notice_blocks, progress_text
from bot.slack.mrkdwn import FALLBACK_LIMIT, truncate
from bot.slack.pacing import RateBudget, Throttle

logger = logging.getLogger(__name__)

StreamMode = Literal["auto", "native", "update"]
STATUS_TEXT = "is looking through the team's documents…"
NATIVE_UNAVAILABLE = frozenset({
    "not_allowed", "not_allowed_token_type", "channel_type_not_supported", "missing_recipient_user_id",
    "missing_recipient_team_id", "messages_tab_disabled", "unknown_method", "method_deprecated",
    "feature_not_enabled", "missing_scope", "invalid_arguments",
})
"""Errors of chat.startStream that mean streaming is not available to this app, not a passing fault."""


def _plain(blocks: Blocks) -> str:
    """The section text of `blocks` (already mrkdwn), for a message's notification text."""
    return "\n\n".join(b["text"]["text"] for b in blocks if b.get("type") == "section")


def slack_error(exc: SlackApiError) -> str:
    return str((exc.response.data or {}).get("error", "")) if exc.response is not None else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamOptions:
    """How answers are written while generated.

    Attributes:
        mode: "auto" (native streaming when the SDK and the workspace allow, else updates), "native"
            (same fallback, but a refusal is not remembered) or "update" (placeholder + chat.update).
        interval_s: least time between two intermediate edits of one message.
        updates_per_minute / appends_per_minute: the process-wide budgets for intermediate
            chat.update / chat.appendStream calls (Tier 3 ≈ 50/min, Tier 4 ≈ 100/min).
        feedback: "native" feedback_buttons or "classic" buttons.
    """

    mode: StreamMode = "auto"
    interval_s: float = 1.0
    updates_per_minute: float = 40.0
    appends_per_minute: float = 80.0
    feedback: FeedbackStyle = "native"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyTarget:
    """Where an answer goes: a thread, and who asked (streams in channels must name the recipient)."""

    channel: str
    thread_ts: str
    team_id: str | None
    """The workspace the app answers in: refusals of native streaming are remembered per workspace."""
    user_id: str | None
    user_team: str | None = None
    """The asker's team (Slack Connect: another organisation's); streams go to this recipient team."""


BlocksFor = Callable[[FeedbackStyle], Blocks]
"""Builds the final blocks with the given feedback style (so they can be rebuilt as a fallback)."""


class Replies:
    """Process-wide reply settings and state: which way works, budgets, feedback style."""

    def __init__(self, client: WebClient, options: StreamOptions | None = None) -> None:
        self.client = client
        self.options = options or StreamOptions()
        self.native = self.options.mode != "update" and hasattr(client, "chat_startStream")
        self._native_refused: set[str | None] = set()
        self._lock = threading.Lock()
        self.feedback: FeedbackStyle = self.options.feedback
        self.update_budget = RateBudget(per_minute=self.options.updates_per_minute)
        self.append_budget = RateBudget(per_minute=self.options.appends_per_minute)

    def start(self, target: ReplyTarget, *, placeholder_ts: str | None = None) -> Reply:
        """A reply that has already shown the asker something (status or placeholder).

        `placeholder_ts` is a message already in the thread (the queue place) the answer takes over.
        """
        reply = Reply(self, target)
        reply.open(placeholder_ts)
        return reply

    def native_for(self, team_id: str | None) -> bool:
        """Whether answers in this workspace try native status and streaming."""
        with self._lock:
            return self.native and team_id not in self._native_refused

    def native_refused(self, team_id: str | None, error: str) -> None:
        """Remember that `team_id` refused native status or streaming with `error` (in "auto" mode)."""
        if self.options.mode == "auto" and error in NATIVE_UNAVAILABLE:
            logger.warning("native status/streaming unavailable in workspace %s (%s); using chat.update there",
                           team_id, error)
            with self._lock:
                self._native_refused.add(team_id)

    def finalize(self, target: ReplyTarget, ts: str, text: str, blocks_for: BlocksFor) -> None:
        """The final chat.update; native feedback buttons rejected once means classic from then on."""
        style = self.feedback
        try:
            self.client.chat_update(channel=target.channel, ts=ts, text=fallback_text(text), blocks=blocks_for(style))
        except SlackApiError as exc:
            if style != "native" or slack_error(exc) != "invalid_blocks":
                raise
            logger.warning("native feedback buttons rejected; using classic buttons from now on")
            self.feedback = "classic"
            self.client.chat_update(channel=target.channel, ts=ts, text=fallback_text(text),
                                    blocks=blocks_for("classic"))


class Reply:
    """One answer being written; `push` runs on the generating thread, never concurrently."""

    def __init__(self, replies: Replies, target: ReplyTarget) -> None:
        self._replies = replies
        self._client = replies.client
        self.target = target
        self.native = replies.native_for(target.team_id)
        self.ts: str | None = None
        self.cancel = threading.Event()
        self._text = ""
        self._sent = 0  # characters of _text already shown (stream) or last edit length (update)
        self._streaming = False
        self._quiet = False  # intermediate edits stopped after a failure
        self._throttle = Throttle(replies.options.interval_s)

    def open(self, placeholder_ts: str | None = None) -> None:
        if placeholder_ts is not None:  # the queue placeholder becomes the answer's message
            self.native, self.ts = False, placeholder_ts
            self._client.chat_update(channel=self.target.channel, ts=placeholder_ts, text=THINKING)
            self._throttle.mark()
            return
        if self.native:
            try:
                self._client.assistant_threads_setStatus(channel_id=self.target.channel,
                                                         thread_ts=self.target.thread_ts, status=STATUS_TEXT)
                return
            except SlackApiError as exc:  # not an assistant-enabled thread: show a placeholder instead
                logger.info("setStatus refused (%s); posting a placeholder", slack_error(exc))
                self._replies.native_refused(self.target.team_id, slack_error(exc))
                self.native = False
        self._post_placeholder(THINKING)

    def _post_placeholder(self, text: str) -> None:
        response = self._client.chat_postMessage(channel=self.target.channel, thread_ts=self.target.thread_ts,
                                                 text=text)
        self.ts = str(response["ts"])
        self._throttle.mark()

    def push(self, delta: str) -> None:
        """Add text and show it if the interval and budget allow; the first text is shown at once.

        The first push carries the quoted evidence, ready well within a second of the question;
        holding it back for the edit interval would hide the most useful part of the answer.
        """
        first = not self._text
        self._text += delta
        if self._quiet or not (first or self._throttle.ready()):
            return
        if self.native:
            self._stream_pending()
        elif self._may_update(first):
            try:
                self._client.chat_update(channel=self.target.channel, ts=self._require_ts(),
                                         text=progress_text(self._text))
                self._throttle.mark()
            except SlackApiError as exc:
                logger.warning("intermediate chat.update failed (%s); showing only the final answer",
                               slack_error(exc))
                self._quiet = True

    def _may_update(self, first: bool) -> bool:
        """Whether an intermediate chat.update may go now: the first text (the evidence) always does,
        drawing on the shared budget all the same, so a burst's later progress edits make room for it."""
        if first:
            self._replies.update_budget.spend()
            return True
        return self._replies.update_budget.try_take()

    def _stream_pending(self) -> None:
        pending = self._text[self._sent:]
        if not pending:
            return
        if not self._streaming:
            self._start_stream(pending)
            return
        if not self._replies.append_budget.try_take():
            return
        try:
            self._client.chat_appendStream(channel=self.target.channel, ts=self._require_ts(), markdown_text=pending)
            self._sent = len(self._text)
            self._throttle.mark()
        except SlackApiError as exc:
            if slack_error(exc) == "stopped_by_user":
                self.cancel.set()
            logger.warning("chat.appendStream failed (%s); holding text until the end", slack_error(exc))
            self._quiet = True

    def _start_stream(self, text: str) -> None:
        try:
            response = self._client.chat_startStream(
                channel=self.target.channel, thread_ts=self.target.thread_ts, markdown_text=text,
                recipient_team_id=self.target.user_team or self.target.team_id,
                recipient_user_id=self.target.user_id)
        except SlackApiError as exc:
            self._replies.native_refused(self.target.team_id, slack_error(exc))
            logger.info("chat.startStream refused (%s); continuing with chat.update", slack_error(exc))
            self.native = False
            self._post_placeholder(progress_text(self._text))
            return
        self.ts, self._streaming, self._sent = str(response["ts"]), True, len(self._text)
        self._throttle.mark()

    def _stop_stream(self, tail: str | None) -> None:
        try:
            self._client.chat_stopStream(channel=self.target.channel, ts=self._require_ts(), markdown_text=tail)
        except SlackApiError as exc:  # e.g. expired server-side; the final chat.update still lands
            logger.warning("chat.stopStream failed (%s)", slack_error(exc))
        self._streaming = False

    def _require_ts(self) -> str:
        if self.ts is None:
            raise RuntimeError("reply has no message yet")
        return self.ts

    def finish(self, text: str, blocks_for: BlocksFor, more: Sequence[Blocks] = ()) -> str:
        """Show the final answer (and `more` pages after it); returns the ts of the message with its buttons."""
        if self.native and not self._streaming:
            self._start_stream(self._text or text)
        if self._streaming:
            self._stop_stream(self._text[self._sent:] or None)
        self._replies.finalize(self.target, self._require_ts(), text, blocks_for)
        for blocks in more:
            self._client.chat_postMessage(channel=self.target.channel, thread_ts=self.target.thread_ts,
                                          text=truncate(_plain(blocks), FALLBACK_LIMIT), blocks=blocks)
        return self._require_ts()

    def fail(self, text: str) -> None:
        """Replace whatever was shown with a notice (apology, busy, refused question)."""
        if self._streaming:
            self._stop_stream(None)
        if self.ts is None:
            self._client.chat_postMessage(channel=self.target.channel, thread_ts=self.target.thread_ts, text=text,
                                          blocks=notice_blocks(text))
            return
        self._client.chat_update(channel=self.target.channel, ts=self.ts, text=text, blocks=notice_blocks(text))

    def describe(self) -> dict[str, Any]:
        """Fields for log lines (never the text)."""
        return {"channel": self.target.channel, "thread_ts": self.target.thread_ts, "ts": self.ts,
                "native": self.native}
