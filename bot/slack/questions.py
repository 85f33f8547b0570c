"""Listeners that find questions: @mentions, DMs and replies in the bot's threads (orch).

Routing of a `message` event (the same for HTTP and Socket Mode):

* carries files (subtype `file_share`)       → `files`, when in a DM or one of the bot's threads;
* a reply "also sent to the channel"         → handled like any reply (subtype `thread_broadcast`);
* edits, joins, other bots, the bot itself   → ignored;
* a DM, or a message mentioning the bot      → a question;
* a message of a channel whose admins turned on un-mentioned answering (`/kb channel unmentioned on`)
  that looks like a question                 → a question answered only if there is an answer
  (`unmentioned`); in the bot's threads there, a reply not mentioning it is treated the same way;
* a reply in a thread where the bot answered → a follow-up question, except
  - in an escalated thread ("Ask a teammate"), where a reply by anyone but the asker is for the
    humans: kept and offered as the verified answer (`harvest.keep_reply`), never answered;
  - right after a 👎 on the bot's latest answer there, when a reply that is not itself a question
    is a teammate's correction, kept and (unless the asker wrote it) offered the same way;
* anything else in a channel                 → ignored.

An @mention also arrives as `app_mention`; both paths claim `msg:<channel>:<ts>`, so whichever
comes first answers and the other is dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext

from bot.slack import files, harvest
from bot.slack.answer_flow import Ask, submit_question
from bot.slack.deps import SlackDeps
from bot.slack.notices import APOLOGY, post_notice
from bot.slack.unmentioned import answers_unmentioned, is_channel_question
from store.escalations import open_escalation_in
from store.interactions import answers_in_thread, has_downvote

logger = logging.getLogger(__name__)


def looks_like_question(text: str) -> bool:
    """A reply after a 👎 that asks something is a follow-up, not a correction."""
    return text.rstrip().endswith("?")


def _ask(event: dict[str, Any], context: BoltContext, *, unmentioned: bool = False) -> Ask:
    return Ask(channel=event["channel"], ts=event["ts"], thread_ts=event.get("thread_ts") or event["ts"],
               user=event.get("user") or "", team_id=context.team_id or event.get("team"),
               user_team=event.get("user_team") or event.get("team"),
               text=event.get("text") or "", bot_user_id=context.bot_user_id, channel_type=event.get("channel_type"),
               unmentioned=unmentioned)


def on_mention(deps: SlackDeps, event: dict[str, Any], context: BoltContext) -> None:
    submit_question(deps, _ask(event, context), event_key=context.get("event_key"))


def route_message(deps: SlackDeps, event: dict[str, Any], context: BoltContext) -> None:
    """Decide what a `message` event is (see the module docstring) and hand it on."""
    subtype = event.get("subtype")
    if subtype == "file_share" or (subtype is None and event.get("files")):
        files.on_file_message(deps, event, context)
        return
    if subtype == "thread_broadcast":  # a thread reply also sent to the channel is still a reply
        subtype = None
    if subtype is not None or event.get("bot_id") or not event.get("user") or \
            event.get("user") == context.bot_user_id:
        return
    text = event.get("text") or ""
    mentioned = bool(context.bot_user_id) and f"<@{context.bot_user_id}>" in text
    thread_ts = event.get("thread_ts")
    in_thread = bool(thread_ts) and thread_ts != event["ts"]
    is_dm = event.get("channel_type") == "im"
    if not (is_dm or mentioned or in_thread):
        if is_channel_question(text) and answers_unmentioned(deps, event["channel"]):
            submit_question(deps, _ask(event, context, unmentioned=True), event_key=context.get("event_key"))
        return
    unmentioned = False
    if in_thread and not mentioned:
        with deps.sessions() as session:  # one read session, closed before the reply is kept
            earlier = answers_in_thread(session, channel=event["channel"], thread_ts=str(thread_ts))
            # a teammate's reply in an escalated thread, or a statement after a 👎, is a better answer to keep
            keep = bool(earlier) and (
                (event["user"] != earlier[-1].asker
                 and open_escalation_in(session, channel=event["channel"], thread_ts=str(thread_ts)) is not None)
                or (not looks_like_question(text) and has_downvote(session, earlier[-1].id)))
        if not earlier and not is_dm:
            return  # someone else's thread
        if keep:
            harvest.keep_reply(deps, event, earlier[-1])
            return
        if not is_dm and answers_unmentioned(deps, event["channel"]):
            if not is_channel_question(text):
                return  # people talking in a thread of a channel the bot answers without being asked
            unmentioned = True
    submit_question(deps, _ask(event, context, unmentioned=unmentioned), event_key=context.get("event_key"))


def register(app: App, deps: SlackDeps) -> None:
    """Attach the question listeners to `app`."""

    @app.event("app_mention")
    def handle_mention(event: dict[str, Any], context: BoltContext) -> None:
        try:
            on_mention(deps, event, context)
        except Exception:
            logger.exception("app_mention in %s/%s failed", event.get("channel"), event.get("ts"))
            post_notice(deps.client, channel=event["channel"], thread_ts=event.get("thread_ts") or event["ts"],
                        text=APOLOGY)

    @app.event("message")
    def handle_message(event: dict[str, Any], context: BoltContext) -> None:
        try:
            route_message(deps, event, context)
        except Exception:
            logger.exception("message in %s/%s failed", event.get("channel"), event.get("ts"))
            addressed = event.get("channel_type") == "im" or f"<@{context.bot_user_id}>" in (event.get("text") or "")
            # never apologise to strangers
            if addressed and event.get("subtype") in (None, "file_share", "thread_broadcast"):
                post_notice(deps.client, channel=event["channel"],
                            thread_ts=event.get("thread_ts") or event["ts"], text=APOLOGY)
