"""Earlier turns of a Slack thread as conversation history for a follow-up (adapter + pure).

Reads the thread with `conversations.replies` and keeps people's messages (bot mentions removed)
and the bot's own answers (recognised by their message ts, so notices, placeholders and "added a
document" replies are not mistaken for answers). Messages at or after the question are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.prompt import Turn
from bot.slack.slack_text import decode, decode_question

logger = logging.getLogger(__name__)


def turns_from_messages(messages: Iterable[dict[str, Any]], *, before_ts: str, bot_user_id: str | None,
                        answer_ts: Sequence[str]) -> list[Turn]:
    """Thread messages older than `before_ts` as turns, oldest first (pure)."""
    answers = set(answer_ts)
    turns: list[Turn] = []
    for message in sorted(messages, key=lambda m: float(m.get("ts", 0))):
        if float(message.get("ts", 0)) >= float(before_ts) or \
                message.get("subtype") not in (None, "file_share", "thread_broadcast"):
            continue
        text = decode(message.get("text") or "").strip()
        if message.get("ts") in answers:
            turns.append(Turn(role="assistant", text=text))
        elif message.get("bot_id") or message.get("user") == bot_user_id:
            continue  # a notice or a placeholder, not part of the conversation
        elif cleaned := decode_question(message.get("text") or "", bot_user_id=bot_user_id):
            turns.append(Turn(role="user", text=cleaned))
    return [turn for turn in turns if turn.text]


def thread_history(client: WebClient, *, channel: str, thread_ts: str, before_ts: str, bot_user_id: str | None,
                   answer_ts: Sequence[str], limit: int = 50) -> list[Turn]:
    """The thread's earlier turns; empty (logged) when Slack will not give the thread."""
    try:
        response = client.conversations_replies(channel=channel, ts=thread_ts, limit=limit)
    except SlackApiError as exc:
        logger.warning("conversations.replies for %s/%s failed (%s); answering without history",
                       channel, thread_ts, exc.response.get("error"))
        return []
    return turns_from_messages(response.get("messages") or [], before_ts=before_ts, bot_user_id=bot_user_id,
                               answer_ts=answer_ts)
