"""Listeners for files shared with the bot: in a DM, or in a thread where it answered (orch).

A file arrives as a `message` with subtype `file_share` (carrying the file objects) and, in DMs,
also as `file_shared` (carrying only the id); both claim `file:<channel>:<file id>`, so each file is
ingested once. Files shared anywhere else are not the bot's business and are ignored. Downloads and
ingestion run on the background pool; the outcome is posted back where the file was shared.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext

from bot.slack import dedupe
from bot.slack.deps import SlackDeps
from bot.slack.ingesting import add_slack_file
from bot.slack.notices import APOLOGY, notice_for, post_notice
from bot.slack.work import WorkRejected
from knowledge.errors import IngestError
from store.interactions import answers_in_thread

logger = logging.getLogger(__name__)


def ingest_shared_file(deps: SlackDeps, *, file: dict[str, Any], channel: str, user: str, thread_ts: str | None,
                       claim_key: str) -> None:
    """Add one shared file and say how it went; never raises."""
    try:
        text = add_slack_file(deps, file=file, channel=channel, user=user)
    except IngestError as exc:
        text = f"I couldn't add that file: {exc}"
    except Exception:
        logger.exception("ingesting file %s from %s failed", file.get("id"), channel)
        text = APOLOGY
    finally:
        dedupe.finish(deps.sessions, claim_key)
    post_notice(deps.client, channel=channel, thread_ts=thread_ts, text=text)


def _submit(deps: SlackDeps, *, file: dict[str, Any], channel: str, user: str, thread_ts: str | None) -> None:
    key = dedupe.file_key(channel, str(file["id"]))
    if not dedupe.claim(deps.sessions, key):
        return
    try:
        deps.work.submit(ingest_shared_file, deps, file=file, channel=channel, user=user, thread_ts=thread_ts,
                         claim_key=key)
    except WorkRejected as exc:
        dedupe.finish(deps.sessions, key)
        post_notice(deps.client, channel=channel, thread_ts=thread_ts, text=notice_for(exc))


def _bot_thread(deps: SlackDeps, channel: str, thread_ts: str) -> bool:
    """Whether the bot answered in the thread."""
    with deps.sessions() as session:
        return bool(answers_in_thread(session, channel=channel, thread_ts=thread_ts))


def on_file_message(deps: SlackDeps, event: dict[str, Any], context: BoltContext) -> None:
    """A message carrying files: ingest them when in a DM or one of the bot's threads."""
    user = event.get("user")
    if not user or event.get("bot_id") or user == context.bot_user_id:
        return
    channel, ts = event["channel"], event["ts"]
    thread_ts = event.get("thread_ts")
    in_bot_thread = bool(thread_ts) and thread_ts != ts and _bot_thread(deps, channel, str(thread_ts))
    if event.get("channel_type") != "im" and not in_bot_thread:
        return
    for file in event.get("files") or []:
        if file.get("id") and file.get("mode") != "tombstone":
            _submit(deps, file=file, channel=channel, user=user, thread_ts=thread_ts or ts)


def on_file_shared(deps: SlackDeps, event: dict[str, Any], context: BoltContext) -> None:
    """`file_shared` gives only ids; only DMs are handled here (threads need the message event)."""
    channel, user = event.get("channel_id") or "", event.get("user_id") or ""
    if not channel.startswith("D") or not user or user == context.bot_user_id:
        return
    _submit(deps, file={"id": event.get("file_id") or (event.get("file") or {}).get("id")}, channel=channel,
            user=user, thread_ts=None)


def register(app: App, deps: SlackDeps) -> None:
    """Attach `file_shared`; file messages come through the question router's `message` listener."""

    @app.event("file_shared")
    def handle_file_shared(event: dict[str, Any], context: BoltContext) -> None:
        try:
            on_file_shared(deps, event, context)
        except Exception:
            logger.exception("file_shared %s in %s failed", event.get("file_id"), event.get("channel_id"))
            post_notice(deps.client, channel=event.get("channel_id") or "", thread_ts=None,
                        text=APOLOGY)
