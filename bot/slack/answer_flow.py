"""Answering one Slack question in its thread, from first status to final blocks (orch).

Runs on the background pool: validate, show something at once, read the thread for history, show
the quoted evidence; then, on the summaries pool, stream the checked summary, replace the reply with
the final blocks and remember which message shows which answer (so reactions on it count as votes).
Evidence once shown stays: when the model is busy or fails after it, the evidence is the answer, with
a line saying why there is no summary. Any other failure ends with a notice in the thread: the
error's own message when it is meant for users (bad question, pool full), else an apology with the
trace in the log. A question nobody put to the bot (`Ask.unmentioned`) is the exception: it is
answered first and shown only when there is an answer; abstentions and failures stay silent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.answering import AnswerError, AnswerResult, PreparedAnswer, Question
from bot.evidence_first import EvidenceTicket
from bot.generator_protocol import GeneratorBusy, GeneratorError
from bot.metrics import AnswerTimer, Outcome, count_outcome
from bot.slack import dedupe
from bot.slack.answer_sources import channel_scopes
from bot.slack.blocks import Blocks, FeedbackStyle, answer_blocks, continuation_blocks
from bot.slack.deps import SlackDeps
from bot.slack.feedback import link_answer_message
from bot.slack.history import thread_history
from bot.slack.notices import notice_for, post_notice
from bot.slack.queue_status import move_up, show_queued, withdraw
from bot.slack.slack_text import decode_question
from bot.slack.streaming import BlocksFor, Reply, ReplyTarget
from bot.slack.verified_blocks import verified_note
from bot.slack.work import WorkRejected
from store.errors import one_line_reason
from store.interactions import answers_in_thread
from store.log_context import bind_ids
from store.unanswered import UnansweredOutcome, record_unanswered

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ask:
    """A question found in Slack: the message, the thread the answer goes to, who asked."""

    channel: str
    ts: str
    thread_ts: str
    user: str
    team_id: str | None
    """The workspace the event was delivered for (the installation)."""
    text: str
    bot_user_id: str | None
    channel_type: str | None = None
    """The event's `channel_type` when Slack sent one ("channel", "group", "im", "mpim")."""
    user_team: str | None = None
    """The asker's own team: another organisation's in a Slack Connect channel (`user_team`/`team`)."""
    unmentioned: bool = False
    """Not put to the bot (a channel answering un-mentioned questions): shown only when there is an answer,
    never a status, queue place, abstention or notice (`bot.slack.unmentioned`)."""

    @property
    def is_follow_up(self) -> bool:
        return self.thread_ts != self.ts


def submit_question(deps: SlackDeps, ask: Ask, *, event_key: str | None = None) -> bool:
    """Claim the message and queue its answer; False when another delivery already owns it.

    When every worker is busy the question shows its place in line at once (`queue_status`).
    """
    received_at = time.monotonic()
    key = dedupe.message_key(ask.channel, ask.ts)
    if not dedupe.claim(deps.sessions, key):
        logger.info("message %s already claimed; not answering twice", key)
        return False
    keys = tuple(k for k in (key, event_key) if k)
    if deps.work.pending >= deps.work.workers and not ask.unmentioned:
        ahead = deps.queue.join(key)
        show_queued(deps.client, deps.queue, key, channel=ask.channel, thread_ts=ask.thread_ts, ahead=ahead)
    # A question put to the bot makes the model pause until its evidence is shown (bot/evidence_first.py);
    # an un-mentioned one shows nothing until its whole answer, model included, so it does not.
    evidence = None if ask.unmentioned else deps.evidence_first.question()
    try:
        deps.work.submit(answer_question, deps, ask, keys, received_at, evidence)
    except WorkRejected as exc:
        if evidence is not None:
            evidence.done()
        count_outcome("busy")
        _record_unanswered(deps, ask, "busy", exc)
        placeholder, _ = deps.queue.leave(key)
        if placeholder is not None:
            withdraw(deps.client, placeholder)
        if not ask.unmentioned:
            post_notice(deps.client, channel=ask.channel, thread_ts=ask.thread_ts, text=notice_for(exc))
        dedupe.finish(deps.sessions, *keys)
    return True


def answer_question(deps: SlackDeps, ask: Ask, claim_keys: tuple[str, ...] = (),
                    received_at: float | None = None, evidence: EvidenceTicket | None = None) -> None:
    """Answer `ask` in its thread, up to the quoted evidence here; never raises (failures become a notice).

    The rest is handed on once the first text is shown (`_hand_over`, `finish_answer`): the summary to
    `deps.summaries`, the record and final blocks of an answer with nothing to write to `deps.finishing`,
    so this worker is free for the next question at once instead of waiting for a model slot or doing
    bookkeeping: under a burst every admitted question sees its evidence at the pace of retrieval, not of
    generation. When the model has no room the answer is finished with the evidence alone and says the
    model was busy.

    Counts the outcome and times the first text and the final answer from `received_at` (a
    `time.monotonic()` of the question's arrival; default now), see `bot.metrics`. `evidence` is the
    question's place among those the model pauses for, given back once the evidence is shown.
    """
    reply: Reply | None = None
    handed_over = False
    started = time.monotonic()
    timer = AnswerTimer(received_at)
    placeholder, still_waiting = deps.queue.leave(dedupe.message_key(ask.channel, ask.ts))
    move_up(deps.client, deps.queue, still_waiting, deps.replies.update_budget)
    try:
        text = decode_question(ask.text, bot_user_id=ask.bot_user_id)
        deps.answerer.validate(text)
        target = ReplyTarget(channel=ask.channel, thread_ts=ask.thread_ts, team_id=ask.team_id, user_id=ask.user,
                             user_team=ask.user_team or ask.team_id)
        if not ask.unmentioned:  # a question put to the bot shows something at once
            reply = deps.replies.start(target, placeholder_ts=placeholder.ts if placeholder else None)
        question = _question(deps, ask, text)
        if reply is None:  # un-mentioned: nothing is shown unless there is an answer
            result = deps.answerer.answer(question)
            if result.abstained:
                count_outcome("abstained")
                logger.info("un-mentioned question %s/%s not answered (%s): staying silent", ask.channel, ask.ts,
                            result.abstain_reason, extra={"outcome": "abstained", "channel": ask.channel})
                return
            reply = deps.replies.start(target)
        else:
            show = timer.showing(reply.push)
            prepared = deps.answerer.prepare(question, on_delta=show)
            if evidence is not None:
                evidence.done()
            deps.queue.record(time.monotonic() - started)  # what a question waiting for this worker waits for
            handed_over = _hand_over(deps, ask, reply, prepared, show, timer, claim_keys)
            if handed_over:
                return
            result = deps.answerer.complete(prepared, skip="busy" if prepared.writes_summary else "")
        _deliver(deps, ask, reply, result, timer)
    except Exception as exc:
        _fail(deps, ask, reply, exc)
    finally:
        if evidence is not None:
            evidence.done()  # once: a second call does nothing
        if not handed_over:
            dedupe.finish(deps.sessions, *claim_keys)


def _hand_over(deps: SlackDeps, ask: Ask, reply: Reply, prepared: PreparedAnswer, show: Callable[[str], None],
               timer: AnswerTimer, claim_keys: tuple[str, ...]) -> bool:
    """Pass the rest of an answer whose first text is shown to another pool, freeing this worker for the next
    question; False when neither has room (the caller finishes it here).

    A summary goes to the summaries pool; when the model has no place there, or there is nothing to write
    (an abstention, a verified answer, summaries off), the answer is recorded and its final blocks shown
    on the finishing pool, after the questions waiting for their evidence (`finish_answer`).
    """
    skip = ""
    if prepared.writes_summary:
        try:
            deps.summaries.submit(finish_answer, deps, ask, reply, prepared, show, timer, claim_keys)
            return True
        except WorkRejected:
            skip = "busy"
    try:
        deps.finishing.submit(finish_answer, deps, ask, reply, prepared, show, timer, claim_keys, skip=skip,
                              after=deps.evidence_first.deadline())
        return True
    except (WorkRejected, RuntimeError):  # RuntimeError: the pool is shutting down
        return False


def finish_answer(deps: SlackDeps, ask: Ask, reply: Reply, prepared: PreparedAnswer, show: Callable[[str], None],
                  timer: AnswerTimer, claim_keys: tuple[str, ...], *, skip: str = "",
                  after: float | None = None) -> None:
    """The second half of `answer_question`, on another pool: the model's checked summary (unless there is
    none to write or `skip` says why not), the answer's record and its final blocks; never raises.

    `after` (a `time.monotonic()` deadline) first lets the questions waiting for their evidence go first,
    until none waits or the deadline: under a burst the bookkeeping of shown answers (a database write,
    two Slack calls) waits instead of delaying the next questions' evidence. A generation pauses on its
    own (bot/evidence_first.py), so summaries are handed over without it.
    """
    try:
        if after is not None:
            deps.evidence_first.wait_before(after)
        try:
            result = deps.answerer.complete(prepared, on_delta=show, cancel=reply.cancel, skip=skip)
        except GeneratorError:  # the model failed; the evidence shown is still the documents' own words
            logger.exception("summary of %s/%s failed; the quoted evidence is the answer", ask.channel, ask.ts)
            result = deps.answerer.complete(prepared, skip="failed")
        _deliver(deps, ask, reply, result, timer)
    except Exception as exc:
        _fail(deps, ask, reply, exc)
    finally:
        dedupe.finish(deps.sessions, *claim_keys)


def _question(deps: SlackDeps, ask: Ask, text: str) -> Question:
    """The question with its thread's history (a follow-up) and the channel's kind and answer sources."""
    history = []
    if ask.is_follow_up:
        with deps.sessions() as session:  # closed before Slack is read
            earlier = answers_in_thread(session, channel=ask.channel, thread_ts=ask.thread_ts)
        history = thread_history(deps.client, channel=ask.channel, thread_ts=ask.thread_ts, before_ts=ask.ts,
                                 bot_user_id=ask.bot_user_id, answer_ts=[a.message_ts for a in earlier if a.message_ts])
    return Question(text=text, channel=ask.channel, thread_ts=ask.thread_ts, asker=ask.user, team_id=ask.team_id,
                    history=history, conversation_kind=deps.scopes.kind_of(ask.channel, ask.channel_type),
                    scopes=channel_scopes(deps, ask.channel, ask.channel_type))


def _deliver(deps: SlackDeps, ask: Ask, reply: Reply, result: AnswerResult, timer: AnswerTimer) -> None:
    """Replace the reply with the final blocks, count and log the outcome, link the message to the answer."""
    bind_ids(answer_id=result.answer_id)  # this job's context only: every line below carries it
    message_ts = reply.finish(result.text, _blocks_for(result),
                              continuation_blocks(answer_id=result.answer_id, text=result.text))
    outcome = _outcome(result)
    count_outcome(outcome)
    logger.info("answered %s/%s: %s in %.1f s with %s%s", ask.channel, ask.ts, outcome, timer.finished(),
                result.adapter_name, f" (summary skipped: {result.summary_skipped})" if result.summary_skipped else "",
                extra={"outcome": outcome, "channel": ask.channel})
    try:
        link_answer_message(deps, result.answer_id, channel=ask.channel, message_ts=message_ts,
                            thread_ts=ask.thread_ts)
    except Exception:  # the answer is shown; only reactions on it will not count as votes
        logger.exception("could not link answer %s to message %s/%s", result.answer_id, ask.channel, message_ts)


def _outcome(result: AnswerResult) -> Outcome:
    if result.verified is not None and result.verified.served:
        return "verified"
    return "abstained" if result.abstained else "answered"


def _blocks_for(result: AnswerResult) -> BlocksFor:
    def build(style: FeedbackStyle) -> Blocks:
        return answer_blocks(answer_id=result.answer_id, text=result.text, citations=result.citations,
                             adapter_name=result.adapter_name, latency_ms=result.latency_ms,
                             timed_out=result.timed_out, abstained=result.abstained, feedback=style,
                             verified_note=verified_note(result.verified) if result.verified else None,
                             verified_served=bool(result.verified and result.verified.served),
                             summary_skipped=result.summary_skipped)

    return build


def _record_unanswered(deps: SlackDeps, ask: Ask, outcome: UnansweredOutcome, exc: BaseException) -> None:
    """Keep a question that got no answer for the App Home's outcomes; never raises (the notice matters more)."""
    try:
        with deps.sessions() as session, session.begin():
            record_unanswered(session, channel=ask.channel, asker=ask.user, outcome=outcome,
                              reason=one_line_reason(exc))
    except Exception:
        logger.exception("could not record the %s question %s/%s", outcome, ask.channel, ask.ts)


def _fail(deps: SlackDeps, ask: Ask, reply: Reply | None, exc: Exception) -> None:
    text = notice_for(exc)
    outcome: Outcome = ("refused" if isinstance(exc, AnswerError) else
                        "busy" if isinstance(exc, GeneratorBusy) else "failed")
    count_outcome(outcome)
    if outcome != "refused":  # a refused question (empty, too long) was answered: with what to do instead
        _record_unanswered(deps, ask, "busy" if outcome == "busy" else "failed", exc)
    if isinstance(exc, AnswerError):
        logger.info("question in %s/%s refused: %s", ask.channel, ask.ts, exc)
    else:
        logger.exception("answering %s/%s failed", ask.channel, ask.ts)
    if reply is None:
        if not ask.unmentioned:  # nobody asked the bot: a failure stays in the log
            post_notice(deps.client, channel=ask.channel, thread_ts=ask.thread_ts, text=text)
        return
    try:
        reply.fail(text)
    except Exception:
        logger.exception("could not replace the reply in %s with a notice", reply.describe())
        post_notice(deps.client, channel=ask.channel, thread_ts=ask.thread_ts, text=text)
