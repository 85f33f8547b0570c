"""`/kb add` and its form: pasted text, a URL, or files uploaded in a modal (orch).

`/kb add <url>` and `/kb add <text>` are acknowledged at once and ingested on the background pool,
the outcome sent with `respond()`; `/kb add` alone opens the form right away (its trigger id
expires about 3 s after the command). The form's submission is checked before it is acknowledged
(so errors show in the form), then ingested in the background; the outcome is shown ephemerally
in the channel the command came from, or as a DM when the bot cannot post there.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.slack.deps import SlackDeps
from bot.slack.ingesting import add_slack_file, add_text, add_url, url_argument
from bot.slack.modals import VIEW_ADD, AddSubmission, add_document_modal, add_errors, read_add
from bot.slack.mrkdwn import escape, truncate
from bot.slack.notices import APOLOGY, notice_for, post_ephemeral
from bot.slack.slack_text import decode
from bot.slack.work import WorkRejected
from knowledge.errors import IngestError

logger = logging.getLogger(__name__)


def start_add(deps: SlackDeps, *, ack: Ack, respond: Respond, command: dict[str, Any], argument: str) -> None:
    """Handle `/kb add [text|url]` (acks within the listener)."""
    channel, user = command["channel_id"], command["user_id"]
    if not argument:
        ack()
        deps.client.views_open(trigger_id=command["trigger_id"], view=add_document_modal(channel=channel))
        return
    url = url_argument(argument)
    url, argument = (decode(url) if url else None), decode(argument)
    ack(text=f"Adding {escape(truncate(url, 200)) if url else 'your text'} to the knowledge base…")

    def job() -> None:
        try:
            if url:
                message = add_url(deps, url=url, title=None, channel=channel, user=user)
            else:
                message = add_text(deps, text=argument, title=None, channel=channel, user=user)
        except IngestError as exc:
            message = f"I couldn't add that: {escape(str(exc))}"
        except Exception:
            logger.exception("/kb add in %s failed", channel)
            message = APOLOGY
        respond(text=message, response_type="ephemeral", replace_original=False)

    try:
        deps.work.submit(job)
    except WorkRejected as exc:
        respond(text=notice_for(exc), response_type="ephemeral")


def ingest_submission(deps: SlackDeps, submission: AddSubmission, user: str) -> list[str]:
    """Add everything the form was given; one line per item, failures included."""
    lines: list[str] = []
    title = submission.title  # names the first item given; later ones keep their own titles
    items: list[tuple[str, Any]] = [("text", submission.text), ("url", submission.url),
                                    *(("file", f) for f in submission.files)]
    for kind, value in items:
        if not value:
            continue
        try:
            if kind == "text":
                lines.append(add_text(deps, text=value, title=title, channel=submission.channel, user=user))
            elif kind == "url":
                lines.append(add_url(deps, url=value, title=title, channel=submission.channel, user=user))
            else:
                lines.append(add_slack_file(deps, file=value, channel=submission.channel, user=user, title=title))
        except IngestError as exc:
            lines.append(f"I couldn't add that {kind}: {escape(str(exc))}")
        title = None
    return lines


def _tell(deps: SlackDeps, *, channel: str, user: str, text: str) -> None:
    if channel and post_ephemeral(deps.client, channel=channel, user=user, text=text):
        return
    deps.client.chat_postMessage(channel=user, text=text)  # the app's DM with the user


def register(app: App, deps: SlackDeps) -> None:
    """Attach the form's submission listener."""

    @app.view(VIEW_ADD)
    def on_add_submitted(ack: Ack, view: dict[str, Any], body: dict[str, Any]) -> None:
        submission = read_add(view)
        if errors := add_errors(submission):
            ack(response_action="errors", errors=errors)
            return
        ack()
        user = body["user"]["id"]

        def job() -> None:
            try:
                text = "\n".join(ingest_submission(deps, submission, user))
            except Exception:
                logger.exception("adding documents from the form failed")
                text = APOLOGY
            _tell(deps, channel=submission.channel, user=user, text=text)

        try:
            deps.work.submit(job)
        except WorkRejected as exc:
            _tell(deps, channel=submission.channel, user=user, text=notice_for(exc))
