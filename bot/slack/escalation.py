""""Ask a teammate": tag the channel's experts in the thread and track it until a reply is confirmed (orch).

A click on the button under an answer posts in the answer's thread, tagging the experts admins set
for the channel (`/kb experts`; users and user groups), or the configured admins when the channel
has none, and opens an escalation for the thread. While it is open, every reply there by someone
other than the asker is a candidate answer: kept and offered to the asker and the replier as the
verified answer (`harvest`), never taken as a question for the bot. Confirming one closes it. A
second click in the same thread tags nobody again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_bolt import Ack, App

from bot.slack.blocks import ACTION_ASK_TEAMMATE
from bot.slack.deps import SlackDeps
from bot.slack.feedback import clicked_message
from bot.slack.mrkdwn import escape, truncate
from bot.slack.notices import APOLOGY, notice_for, post_ephemeral
from bot.slack.work import WorkRejected
from store.escalations import experts_for, open_escalation
from store.interactions import answer_by_id

logger = logging.getLogger(__name__)

ALREADY_ASKED = "Teammates were already asked in this thread. When one replies, you can make the reply the answer."
GONE = "That answer no longer exists."
NOBODY = ("No experts are set for this channel and no admins are configured, so I couldn't tag anyone. "
          "An admin can choose them with `/kb experts #channel @someone @some-group`.")


def mention(expert: str) -> str:
    """`<!subteam^S…>` for a user group id, `<@U…>` for a user id."""
    return f"<!subteam^{expert}>" if expert.startswith("S") else f"<@{expert}>"


def escalation_text(*, question: str, requested_by: str, experts: Sequence[str]) -> str:
    """The message in the thread that asks the experts for help (pure)."""
    asked = f"<@{requested_by}> would like a teammate's help with: “{escape(truncate(question, 300))}”"
    if not experts:
        return f"{asked}\n{NOBODY}"
    return (f"{asked}\n{' '.join(mention(e) for e in experts)} could one of you answer in this thread? "
            "The asker can then make your reply the answer I give when this comes up again.")


def ask_teammate(deps: SlackDeps, *, answer_id: int, user: str, channel: str, message_ts: str | None) -> str | None:
    """Tag the experts in the answer's thread and open its escalation; returns a note for `user`, if any."""
    with deps.sessions() as session, session.begin():  # committed before the experts are tagged
        answer = answer_by_id(session, answer_id)
        if answer is None:
            return GONE
        if answer.message_ts and message_ts and answer.message_ts != message_ts:
            logger.warning("ask-a-teammate value %s does not belong to message %s/%s; ignored", answer_id, channel,
                           message_ts)
            return None
        thread_ts = answer.thread_ts or answer.message_ts or message_ts or ""
        experts = experts_for(session, channel) or list(deps.admins.configured)
        _, new = open_escalation(session, answer_id=answer.id, channel=channel, thread_ts=thread_ts,
                                 asker=answer.asker, requested_by=user, experts=experts)
    if not new:
        return ALREADY_ASKED
    deps.client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                 text=escalation_text(question=answer.question, requested_by=user, experts=experts))
    return None


def register(app: App, deps: SlackDeps) -> None:
    """Attach the "Ask a teammate" button."""

    @app.action(ACTION_ASK_TEAMMATE)
    def on_ask(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user, channel, message_ts, thread_ts = clicked_message(body)

        def work() -> None:
            try:
                note = ask_teammate(deps, answer_id=int(action["value"]), user=user, channel=channel,
                                    message_ts=message_ts)
            except Exception:
                logger.exception("ask-a-teammate on answer %s failed", action.get("value"))
                note = APOLOGY
            if note:
                post_ephemeral(deps.client, channel=channel, user=user, thread_ts=thread_ts, text=note)

        try:
            deps.work.submit(work)
        except WorkRejected as exc:
            post_ephemeral(deps.client, channel=channel, user=user, thread_ts=thread_ts, text=notice_for(exc))
