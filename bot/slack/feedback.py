"""Listeners for feedback: 👍/👎 buttons and reactions and the 👎 reason modal (orch).

* Buttons: native `feedback_buttons` (value `up:<id>`/`down:<id>`) and the classic fallback buttons
  (action id says the direction, value is the answer id). The clicked message's ts must be the
  answer's own message, so a forged value cannot vote on another answer.
* Reactions on the bot's answer: `+1`/`thumbsup` and `-1`/`thumbsdown`, skin tones stripped;
  removing the reaction withdraws that vote (only if it is still the current one). A reaction on the
  bot's message before its answer is recorded (the record comes after the evidence and summary) is
  held and replayed when the answer is linked to the message (`link_answer_message`,
  store/pending_reactions.py).
* A 👎 click opens the optional reason modal; a 👎 reaction (no trigger id) gets an ephemeral button
  that opens it. Closing the modal keeps the vote; submitting adds the reason to it.
* Votes are last-write-wins per user and answer; `vote_events` keeps every change.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import (
    ACTION_DOWN,
    ACTION_EXPLAIN,
    ACTION_FEEDBACK,
    ACTION_UP,
    explain_prompt_blocks,
    parse_vote_value,
)
from bot.slack.deps import SlackDeps
from bot.slack.modals import VIEW_REASON, read_reason, reason_modal
from bot.slack.notices import APOLOGY, post_ephemeral
from store.interactions import (
    answer_by_id,
    answer_by_message,
    attach_message,
    current_vote,
    record_vote,
    withdraw_vote,
)
from store.pending_reactions import HeldReaction, hold_reaction, lock_message, replay_reactions

logger = logging.getLogger(__name__)

REACTION_VALUES = {"+1": 1, "thumbsup": 1, "-1": -1, "thumbsdown": -1}
THANKS_UP = "Thanks for the 👍, glad it helped."
GONE = "That answer no longer exists, so the vote was not recorded."


def reaction_value(name: str) -> int | None:
    """+1/-1 for thumbs reactions in any skin tone (`+1::skin-tone-3`), else None."""
    return REACTION_VALUES.get(name.split("::", 1)[0])


def clicked_message(body: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    """(user, channel, message ts, thread ts) of a block action on a message."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    message_ts = message.get("ts") or container.get("message_ts")
    return body["user"]["id"], channel, message_ts, message.get("thread_ts") or message_ts


def vote_by_button(deps: SlackDeps, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Record a feedback click; a 👎 opens the reason modal (the vote is stored first)."""
    direction, answer_id = parse_vote_value(str(action.get("value", "")))
    if action.get("action_id") in (ACTION_UP, ACTION_DOWN):
        direction = 1 if action["action_id"] == ACTION_UP else -1
    user, channel, message_ts, thread_ts = clicked_message(body)
    with deps.sessions() as session:
        answer = answer_by_id(session, answer_id)
    if answer is None:
        post_ephemeral(deps.client, channel=channel, user=user, thread_ts=thread_ts, text=GONE)
        return
    if direction is None or (answer.message_ts and message_ts and answer.message_ts != message_ts):
        logger.warning("feedback value %r does not belong to message %s/%s; ignored", action.get("value"),
                       channel, message_ts)
        return
    with deps.sessions() as session, session.begin():  # the vote is stored first, then thanked or explained
        record_vote(session, answer_id=answer_id, user_id=user, value=direction, source="button")
    if direction == 1:
        post_ephemeral(deps.client, channel=channel, user=user, thread_ts=thread_ts, text=THANKS_UP)
        return
    try:
        deps.client.views_open(trigger_id=body["trigger_id"],
                               view=reason_modal(answer_id=answer_id, channel=channel, message_ts=message_ts))
    except SlackApiError as exc:  # e.g. expired_trigger_id: offer the modal behind a fresh click instead
        logger.warning("reason modal not opened (%s)", exc.response.get("error"))
        offer_reason(deps, answer_id, channel=channel, user=user, thread_ts=thread_ts)


def vote_by_reaction(deps: SlackDeps, event: dict[str, Any], *, added: bool, bot_user_id: str | None) -> None:
    value = reaction_value(event.get("reaction", ""))
    item = event.get("item") or {}
    if value is None or item.get("type") != "message" or not event.get("user"):
        return
    if bot_user_id and event.get("item_user") and event["item_user"] != bot_user_id:
        return  # a reaction on someone else's message
    with deps.sessions() as session, session.begin():  # committed before the 👎 is asked for a reason
        lock_message(session, channel=item["channel"], message_ts=item["ts"])
        answer = answer_by_message(session, channel=item["channel"], message_ts=item["ts"])
        if answer is None:
            if bot_user_id and event.get("item_user") == bot_user_id:  # its answer is not recorded yet
                hold_reaction(session, channel=item["channel"], message_ts=item["ts"], user_id=event["user"],
                              value=value, added=added, event_ts=event.get("event_ts"))
            return
        if not added:
            withdraw_vote(session, answer_id=answer.id, user_id=event["user"], value=value, source="reaction")
            return
        record_vote(session, answer_id=answer.id, user_id=event["user"], value=value, source="reaction")
    if value == -1:
        offer_reason(deps, answer.id, channel=item["channel"], user=event["user"], thread_ts=answer.thread_ts)


def link_answer_message(deps: SlackDeps, answer_id: int, *, channel: str, message_ts: str,
                        thread_ts: str | None) -> None:
    """Link a recorded answer to the Slack message showing it, turning the reactions held for that message
    into votes (one transaction), then ask each user whose held reaction ended as a 👎 for a reason."""
    with deps.sessions() as session, session.begin():
        lock_message(session, channel=channel, message_ts=message_ts)
        attach_message(session, answer_id, channel=channel, message_ts=message_ts)
        replayed = replay_reactions(session, answer_id=answer_id, channel=channel, message_ts=message_ts)
    for user in _thumbs_down_users(replayed):
        offer_reason(deps, answer_id, channel=channel, user=user, thread_ts=thread_ts)


def offer_reason(deps: SlackDeps, answer_id: int, *, channel: str, user: str, thread_ts: str | None) -> None:
    """Thank `user` for a 👎 privately, with a button opening the reason form (when no modal can open now)."""
    post_ephemeral(deps.client, channel=channel, user=user, thread_ts=thread_ts, text="Thanks for the 👎.",
                   blocks=explain_prompt_blocks(answer_id))


def _thumbs_down_users(replayed: list[HeldReaction]) -> list[str]:
    """Users whose last replayed reaction added a 👎, in order of first appearance."""
    last: dict[str, HeldReaction] = {}
    for reaction in replayed:
        last[reaction.user_id] = reaction
    return [user for user, reaction in last.items() if reaction.added and reaction.value == -1]


def save_reason(deps: SlackDeps, view: dict[str, Any], user: str) -> None:
    """Add the modal's reason to the user's 👎, unless they changed their vote meanwhile."""
    submission = read_reason(view)
    with deps.sessions() as session, session.begin():  # the check and the write in one transaction
        if current_vote(session, answer_id=submission.answer_id, user_id=user) != -1:
            logger.info("reason for answer %s dropped: the 👎 was withdrawn or changed", submission.answer_id)
            return
        record_vote(session, answer_id=submission.answer_id, user_id=user, value=-1, source="modal",
                    reason=submission.reason, reason_text=submission.details)


def _apologize(deps: SlackDeps, body: dict[str, Any]) -> None:
    user, channel, _, thread_ts = clicked_message(body)
    if channel:
        post_ephemeral(deps.client, channel=channel, user=user, thread_ts=thread_ts, text=APOLOGY)


def register(app: App, deps: SlackDeps) -> None:
    """Attach the feedback listeners to `app`."""

    def on_click(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        try:
            vote_by_button(deps, body, action)
        except Exception:
            logger.exception("feedback click failed")
            _apologize(deps, body)

    for action_id in (ACTION_FEEDBACK, ACTION_UP, ACTION_DOWN):
        app.action(action_id)(on_click)

    @app.action(ACTION_EXPLAIN)
    def on_explain(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        try:
            _, channel, message_ts, _ = clicked_message(body)
            answer_id = int(action["value"])
            with deps.sessions() as session:
                answer = answer_by_id(session, answer_id)
            deps.client.views_open(trigger_id=body["trigger_id"], view=reason_modal(
                answer_id=answer_id, channel=channel, message_ts=answer.message_ts if answer else message_ts))
        except Exception:
            logger.exception("opening the reason modal failed")
            _apologize(deps, body)

    @app.view(VIEW_REASON)
    def on_reason(ack: Ack, view: dict[str, Any], body: dict[str, Any]) -> None:
        ack()
        try:
            save_reason(deps, view, body["user"]["id"])
        except Exception:
            logger.exception("saving a vote reason failed")
            channel = str(json.loads(view.get("private_metadata") or "{}").get("channel") or "")
            if channel:
                post_ephemeral(deps.client, channel=channel, user=body["user"]["id"], text=APOLOGY)

    @app.view_closed(VIEW_REASON)
    def on_reason_closed(ack: Ack, view: dict[str, Any]) -> None:
        ack()
        logger.info("reason modal closed without a reason; the 👎 stands (%s)", view.get("private_metadata"))

    def on_reaction(event: dict[str, Any], context: BoltContext) -> None:
        try:
            vote_by_reaction(deps, event, added=event["type"] == "reaction_added", bot_user_id=context.bot_user_id)
        except Exception:
            logger.exception("reaction %s on %s failed", event.get("reaction"), event.get("item"))
            item = event.get("item") or {}
            if item.get("channel") and event.get("user"):
                post_ephemeral(deps.client, channel=item["channel"], user=event["user"], text=APOLOGY)

    app.event("reaction_added")(on_reaction)
    app.event("reaction_removed")(on_reaction)
