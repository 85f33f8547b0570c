"""Harvesting teammates' answers: offer a reply as the verified answer, and make it one on a click (orch).

When someone other than the asker replies in one of the bot's threads after a 👎 or in an
escalated thread (`escalation`: someone asked a teammate), the reply is kept
as a reference answer (training material, as before) and the replier and the asker each get an
ephemeral "Use this as the answer". A reply by the asker is kept but never offered: it is the
question's own author talking, not a teammate answering. A click by either of the two (nobody else:
a button value can be forged) confirms it: the reply is scrubbed of secrets and personal data, its
thread permalink fetched, the question embedded for matching, the prompt the model would read for
it recorded for training, and a verified answer stored in the scope of the conversation it was
given in, and the thread's escalation, if any, is closed. The thread is told, so everyone there
knows the answer will be reused.

The scrubber is the one the learning loop uses (`knowledge.scrubbing`): a verified
answer is served *and* trained on, so it is scrubbed once, before it is stored, with the same rules.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk.errors import SlackApiError

from bot.answering import Question
from bot.slack.deps import SlackDeps
from bot.slack.notices import APOLOGY, notice_for, post_ephemeral
from bot.slack.slack_text import decode_question
from bot.slack.verified_blocks import ACTION_USE_ANSWER, use_answer_blocks
from bot.slack.work import WorkRejected
from knowledge.scrubbing import scrub
from store.escalations import resolve_escalation
from store.interactions import (
    AnswerRecord,
    ReferenceRecord,
    answer_by_id,
    record_reference_answer,
    reference_answer_by_id,
)
from store.verified_answers import VerifiedRecord, record_verified_answer

logger = logging.getLogger(__name__)

CORRECTION_SAVED = "Thanks, I saved your reply as a better answer to learn from."
NOT_YOURS = "Only the person who asked and the teammate who replied can make this reply the answer."
ALREADY = "That reply is already the verified answer to this question."
GONE = "That reply or the question it answers no longer exists."


def keep_reply(deps: SlackDeps, event: dict[str, Any], answer: AnswerRecord) -> None:
    """Keep a teammate's reply to `answer` as a reference answer and offer it as the verified answer."""
    text = decode_question(event.get("text") or "", bot_user_id=None)
    if not text:
        return
    replier, channel = event["user"], event["channel"]
    with deps.sessions() as session, session.begin():  # committed before anyone is offered it
        reference_id = record_reference_answer(session, answer_id=answer.id, author=replier, text=text,
                                               message_ts=event.get("ts"))
    if not answer.asker or replier == answer.asker:
        post_ephemeral(deps.client, channel=channel, user=replier, thread_ts=answer.thread_ts, text=CORRECTION_SAVED)
        return
    offer_reply(deps, channel=channel, thread_ts=answer.thread_ts, reference_id=reference_id, text=text,
                replier=replier, asker=answer.asker)


def offer_reply(deps: SlackDeps, *, channel: str, thread_ts: str | None, reference_id: int, text: str,
                replier: str, asker: str) -> None:
    """The ephemeral "Use this as the answer" to the replier and to the asker."""
    leads = {replier: f"{CORRECTION_SAVED} If it answers the question, make it the verified answer:",
             asker: f"<@{replier}> replied in your thread. If that answers your question, make it the verified answer:"}
    for user, lead in leads.items():
        post_ephemeral(deps.client, channel=channel, user=user, thread_ts=thread_ts, text=lead,
                       blocks=use_answer_blocks(reference_id, text, lead=lead))


def confirm_reply(deps: SlackDeps, *, reference_id: int, user: str) -> str:
    """Make the reply a verified answer if `user` may; returns what to tell them."""
    with deps.sessions() as session:
        reference = reference_answer_by_id(session, reference_id)
        answer = answer_by_id(session, reference.answer_id) if reference else None
    if reference is None or answer is None:
        return GONE
    if user not in (answer.asker, reference.author):
        logger.warning("user %s may not confirm reference answer %s", user, reference_id)
        return NOT_YOURS
    answer_text, vector = scrub(reference.text).text, deps.embedder.embed_query(answer.question)
    permalink, prompt = _permalink(deps, answer, reference), _training_prompt(deps, answer)  # before the transaction
    with deps.sessions() as session, session.begin():  # the answer and its escalation's close, before the thread hears
        record, new = record_verified_answer(
            session, question=answer.question, answer_text=answer_text, question_vector=vector, scope=answer.scope,
            author=reference.author, confirmed_by=user, channel=answer.channel, thread_ts=answer.thread_ts,
            permalink=permalink, answer_id=answer.id, reference_answer_id=reference.id, prompt=prompt)
        if new and answer.channel and answer.thread_ts:
            resolve_escalation(session, channel=answer.channel, thread_ts=answer.thread_ts,
                               verified_answer_id=record.id)
    if not new:
        return ALREADY
    _announce(deps, record)
    return f"Done: verified answer #{record.id}. I'll answer with it when this question comes again."


def _permalink(deps: SlackDeps, answer: AnswerRecord, reference: ReferenceRecord) -> str | None:
    if not answer.channel or not reference.message_ts:
        return None
    try:
        return str(deps.client.chat_getPermalink(channel=answer.channel, message_ts=reference.message_ts)["permalink"])
    except SlackApiError as exc:  # the answer is still worth keeping without its link
        logger.warning("no permalink for %s/%s: %s", answer.channel, reference.message_ts, exc.response.get("error"))
        return None


def _training_prompt(deps: SlackDeps, answer: AnswerRecord) -> str:
    """The prompt the model would read for the question now; empty (logged) when it cannot be built."""
    try:
        return deps.answerer.training_prompt(Question(text=answer.question, channel=answer.channel,
                                                      conversation_kind=answer.conversation_kind))
    except Exception:  # serving the verified answer does not need it; only training does
        logger.exception("no training prompt for verified answer of answer %s", answer.id)
        return ""


def _announce(deps: SlackDeps, record: VerifiedRecord) -> None:
    if not record.channel:
        return
    if record.author == record.confirmed_by:
        text = f"✅ <@{record.author}> confirmed their reply as the verified answer to this question."
    else:
        text = f"✅ <@{record.confirmed_by}> marked <@{record.author}>'s reply as the verified answer to this question."
    text += " I'll answer with it when it is asked again."
    try:
        deps.client.chat_postMessage(channel=record.channel, thread_ts=record.thread_ts, text=text)
    except SlackApiError as exc:
        logger.warning("could not announce verified answer %s: %s", record.id, exc.response.get("error"))


def register(app: App, deps: SlackDeps) -> None:
    """Attach the "Use this as the answer" button."""

    @app.action(ACTION_USE_ANSWER)
    def on_use(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()

        def work() -> None:
            try:
                text = confirm_reply(deps, reference_id=int(action["value"]), user=body["user"]["id"])
            except Exception:
                logger.exception("confirming reference answer %s failed", action.get("value"))
                text = APOLOGY
            respond(text=text, replace_original=True, response_type="ephemeral")

        try:
            deps.work.submit(work)
        except WorkRejected as exc:
            respond(text=notice_for(exc), response_type="ephemeral")
