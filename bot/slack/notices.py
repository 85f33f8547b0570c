"""What users are told when something goes wrong, and posting it without failing again (adapter).

Messages of `AnswerError`, `IngestError` and `GeneratorError` are written to be shown as they are;
anything else is a bug, logged with its trace and answered with a generic apology.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answering import AnswerError
from bot.generator_protocol import GeneratorBusy, GeneratorError
from bot.slack.blocks import notice_blocks
from bot.slack.work import WorkRejected
from knowledge.errors import IngestError

logger = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side while working on this. Please try again in a moment."
BUSY = "I'm busy answering other questions right now. Please try again shortly."


def notice_for(exc: BaseException) -> str:
    """The text a user sees for `exc`."""
    if isinstance(exc, GeneratorBusy | WorkRejected):
        return BUSY
    if isinstance(exc, AnswerError | IngestError | GeneratorError):
        return str(exc)
    return APOLOGY


def post_notice(client: WebClient, *, channel: str, thread_ts: str | None, text: str) -> None:
    """Post `text` in the thread; a failure to do so is logged, never raised (we are already failing)."""
    try:
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=notice_blocks(text))
    except Exception:
        logger.exception("could not post a notice in %s (thread %s)", channel, thread_ts)


def post_ephemeral(client: WebClient, *, channel: str, user: str, text: str, thread_ts: str | None = None,
                   blocks: list[dict[str, object]] | None = None) -> bool:
    """Show `text` to `user` only; False (logged) when Slack refuses, e.g. the bot is not in the channel."""
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts, blocks=blocks)
        return True
    except SlackApiError as exc:
        logger.warning("ephemeral message to %s in %s refused: %s", user, channel, exc.response.get("error"))
        return False
