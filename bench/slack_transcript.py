"""Reading one question's reply off the fake Slack's transcript: when it showed what, and how it ended.

The Slack benches (bench/slack_ack.py, bench/burst.py) post a mention to the real app and learn
everything else from the calls the bot made to `tests.fakes.slack_api.FakeSlack`, each timestamped
with `time.monotonic()` when the fake received it. A reply lives in the question's thread: a
thread status (`assistant.threads.setStatus`), messages the bot posted or streamed there
(`chat.postMessage`, `chat.startStream`), and edits of those messages (`chat.update`). What each
call means is read from its shape, as bot/slack/streaming.py, queue_status.py and notices.py
make them:

* a message or edit without blocks whose text is the "looking…" placeholder (`THINKING`) or a
  queue place ("_Queued: …", `AnswerQueue.describe`) shows that the bot is on it, not the answer;
* a stream's opening text, or any other plain-text post or edit, is answer text (the quoted
  evidence comes first);
* the first post or edit carrying blocks ends the reply: answer blocks (feedback buttons) say
  answered or abstained (an abstention puts "Ask a teammate" before the feedback buttons), a
  notice (one section, no buttons) says busy when its text is the busy notice, else failed.

Only calls Slack accepted count (HTTP 200 and `ok`): a refused edit showed nothing. Functions take
the transcript (`fake.calls`) rather than the fake, so tests can hand them a few recorded `SlackCall`s.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from bot.slack.blocks import SUMMARY_BUSY_NOTE, THINKING
from bot.slack.notices import BUSY
from tests.fakes.slack_api import SlackCall

Outcome = Literal["answered", "abstained", "busy", "failed", "no reply"]
OUTCOMES: tuple[Outcome, ...] = ("answered", "abstained", "busy", "failed", "no reply")

QUEUED_PREFIX = "_Queued:"
"""How a queue place begins (bot/slack/queue_status.py, `AnswerQueue.describe`)."""
_FEEDBACK_BLOCKS = ("kb.feedback.", "kb.vote.")
"""block_id prefixes of the feedback buttons every answer ends with (native, classic)."""
_ASK_TEAMMATE_BLOCK = "kb.ask."


def _accepted(call: SlackCall) -> bool:
    """Slack did what the call asked (a refused call showed nothing)."""
    return call.status == 200 and bool((call.reply or {}).get("ok"))


def _posted_in_thread(call: SlackCall, ts: str) -> bool:
    return call.method in ("chat.postMessage", "chat.startStream") and call.body.get("thread_ts") == ts \
        and _accepted(call)


def thread_messages(calls: Sequence[SlackCall], ts: str) -> set[str]:
    """The ts of every message the bot posted or streamed (successfully) in the thread of `ts`."""
    return {c.reply["ts"] for c in calls if _posted_in_thread(c, ts)}


def _reply_calls(calls: Sequence[SlackCall], ts: str) -> list[SlackCall]:
    """Accepted posts and streams in the thread of `ts` and edits of its messages, in the order the fake got them."""
    messages = thread_messages(calls, ts)
    return [c for c in calls if _posted_in_thread(c, ts)
            or (c.method == "chat.update" and c.body.get("ts") in messages and _accepted(c))]


def _block_ids(call: SlackCall) -> list[str]:
    return [str(block.get("block_id", "")) for block in call.body.get("blocks") or []]


def is_answer(call: SlackCall) -> bool:
    """Whether `call` carries a finished answer's blocks (they end with feedback buttons)."""
    return any(b.startswith(_FEEDBACK_BLOCKS) for b in _block_ids(call))


def _shows_answer_text(call: SlackCall) -> bool:
    if call.method == "chat.startStream":
        return bool(call.body.get("markdown_text"))
    if call.body.get("blocks"):
        return is_answer(call)
    text = str(call.body.get("text") or "")
    return bool(text) and text != THINKING and not text.startswith(QUEUED_PREFIX)


def first_visible(calls: Sequence[SlackCall], ts: str) -> float | None:
    """When the asker first saw the bot on it: a thread status, a placeholder or queue place, or a stream."""
    kinds = ("assistant.threads.setStatus", "chat.postMessage", "chat.startStream")
    times = [c.t for c in calls if c.method in kinds and c.body.get("thread_ts") == ts and _accepted(c)]
    return min(times) if times else None


def first_text(calls: Sequence[SlackCall], ts: str) -> float | None:
    """When answer text first reached Slack: the stream's start, the first edit with text, or the final answer.

    Placeholder and queue-place edits are not answer text; the final answer counts when no text was
    shown before it (e.g. the shared budget of intermediate edits was spent).
    """
    times = [c.t for c in _reply_calls(calls, ts) if _shows_answer_text(c)]
    return min(times) if times else None


def reply_end(calls: Sequence[SlackCall], ts: str) -> SlackCall | None:
    """The call that ended the reply to `ts`: the first post or edit in its thread carrying blocks."""
    return next((c for c in _reply_calls(calls, ts)
                 if c.method in ("chat.postMessage", "chat.update") and c.body.get("blocks")), None)


def final_answer(calls: Sequence[SlackCall], ts: str) -> float | None:
    """When the reply to `ts` ended (final answer blocks, or a notice in their place)."""
    end = reply_end(calls, ts)
    return end.t if end is not None else None


def streaming_started(calls: Sequence[SlackCall], ts: str) -> bool:
    """Generated text is on screen: a stream was opened, or the placeholder was edited."""
    return first_text(calls, ts) is not None


def outcome_of(end: SlackCall | None) -> Outcome:
    """What the reply ending with `end` (`reply_end`) told the asker; "no reply" when nothing ended it."""
    if end is None:
        return "no reply"
    if is_answer(end):
        ids = _block_ids(end)
        feedback = next(i for i, b in enumerate(ids) if b.startswith(_FEEDBACK_BLOCKS))
        return "abstained" if any(b.startswith(_ASK_TEAMMATE_BLOCK) for b in ids[:feedback]) else "answered"
    return "busy" if end.body.get("text") == BUSY else "failed"


def reply_timeline(calls: Sequence[SlackCall], ts: str, sent: float, *, timeout_s: float) -> dict[str, Any]:
    """Seconds from `sent` to the first visible reply, first answer text and the end, and the outcome.

    A reply that ended more than `timeout_s` after `sent` counts as "no reply" (its end time is
    dropped too), so a run that stops waiting at its timeout reads the same as one that waited on.
    """
    def since(t: float | None) -> float | None:
        return None if t is None or t - sent > timeout_s else round(t - sent, 3)

    end = reply_end(calls, ts)
    final = since(end.t if end is not None else None)
    outcome = outcome_of(end) if final is not None else "no reply"
    return {"first_visible_s": since(first_visible(calls, ts)), "first_text_s": since(first_text(calls, ts)),
            "final_s": final, "outcome": outcome,
            "summary_skipped": outcome == "answered" and end is not None and summary_skipped(end)}


def summary_skipped(end: SlackCall) -> bool:
    """The final answer is the quoted evidence alone because the model had no place for its summary."""
    return SUMMARY_BUSY_NOTE in json.dumps(end.body.get("blocks"), ensure_ascii=False)
