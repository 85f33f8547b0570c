"""A shown answer's bookkeeping (its record and final blocks) comes after the next questions' evidence.

Through signed events into the real app and the fake Slack: the worker shows the evidence, hands the
rest to the finishing pool, and that waits while any question still waits for its evidence (here a
ticket the test holds, as a sibling question would), up to the pause budget.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.answering import Answerer, AnsweringConfig
from bot.evidence_first import EvidenceFirst
from bot.slack.blocks import ACTION_EXPLAIN
from knowledge.embedding import Embedder
from store.schema import Answer, Chunk, PendingReaction, RankingVectors, Vote
from tests.fakes.slack_requests import mention, reaction
from tests.scripted_generator import HeldGenerator, ScriptedGenerator
from tests.slack.conftest import MakeBot

pytestmark = pytest.mark.usefixtures("documents")
QUESTION = "When do database backups run?"


def _evidence_only(sessions: sessionmaker[Session], embedder: Embedder) -> Answerer:
    return Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator(),
                    config=AnsweringConfig(summarise=False, timeout_s=30.0))


def _ask(bot, text: str = QUESTION) -> str:  # type: ignore[no-untyped-def]
    ts = str(bot.fake.add_message("C1", f"<@UBOT> {text}")["ts"])
    assert bot.dispatch(bot.requests.event(mention("C1", ts, text))).status == 200
    assert bot.listeners.wait_idle(30) and bot.work.wait_idle(30)
    return ts


def test_a_shown_answer_is_recorded_and_finished_once_no_question_waits_for_its_evidence(
        make_bot: MakeBot, sessions: sessionmaker[Session], embedder: Embedder) -> None:
    first_in_line = EvidenceFirst(max_pause_s=30.0)
    bot = make_bot(answerer=_evidence_only(sessions, embedder), evidence_first=first_in_line)
    waiting = first_in_line.question()  # another question still waits for its evidence
    ts = _ask(bot)
    bot.fake.wait_until(lambda: "02:00 UTC" in str(bot.fake.bot_replies("C1", ts)), timeout=10,
                        what="the evidence, shown by the worker")
    time.sleep(0.3)
    assert bot.work.pending == 0, "the worker is free for the next question"
    assert bot.finishing.pending == 1 and bot.rows(Answer) == [], "the record waits for the other question"
    replies = bot.fake.bot_replies("C1", ts)
    assert not any(block["type"] in ("actions", "context_actions") for block in replies[-1].get("blocks") or []), \
        "no final blocks yet"
    waiting.done()
    bot.settle()
    final = bot.final_answer("C1", ts)
    [row] = bot.rows(Answer)
    assert "02:00 UTC" in final["text"] and row.message_ts == final["ts"] and "02:00 UTC" in row.published_text


def test_a_shown_answer_waits_no_longer_than_the_pause_budget(make_bot: MakeBot, sessions: sessionmaker[Session],
                                                              embedder: Embedder) -> None:
    """A steady stream of questions cannot keep an answer unfinished: past the budget it is finished anyway;
    with pausing off (the budget 0) at once."""
    for budget in (0.0, 0.8):
        first_in_line = EvidenceFirst(max_pause_s=budget)
        bot = make_bot(answerer=_evidence_only(sessions, embedder), evidence_first=first_in_line)
        waiting = first_in_line.question()  # never shown during the test
        started = time.monotonic()
        ts = _ask(bot, f"{QUESTION} ({budget})")
        bot.settle()
        took = time.monotonic() - started
        assert "02:00 UTC" in bot.final_answer("C1", ts)["text"]
        assert (took >= budget) if budget else took < 0.8, f"finished after {took:.2f} s with a budget of {budget} s"
        waiting.done()


def test_reactions_on_the_evidence_before_the_answer_is_recorded_become_votes_when_it_is(
        make_bot: MakeBot, sessions: sessionmaker[Session], embedder: Embedder) -> None:
    """A quick 👍 on the quoted evidence, while the record waits (here for another question's evidence), used
    to find no answer for its message and be dropped: it is held and replayed, in order, when the answer is
    linked to its message; a 👎 then gets its reason prompt."""
    first_in_line = EvidenceFirst(max_pause_s=30.0)
    bot = make_bot(answerer=_evidence_only(sessions, embedder), evidence_first=first_in_line)
    waiting = first_in_line.question()
    ts = _ask(bot)
    bot.fake.wait_until(lambda: "02:00 UTC" in str(bot.fake.bot_replies("C1", ts)), timeout=10, what="the evidence")
    shown = bot.fake.bot_replies("C1", ts)[-1]["ts"]
    for kind, name, user in (("reaction_added", "+1", "UQUICK"), ("reaction_added", "-1::skin-tone-2", "UDOWN"),
                             ("reaction_added", "+1", "UFLIP"), ("reaction_removed", "+1", "UFLIP"),
                             ("reaction_added", "+1", "UOTHER")):
        item_user = "UASKER" if user == "UOTHER" else None  # UOTHER reacts to the asker's message, not the bot's
        event = reaction(kind, "C1", ts if item_user else shown, name, user=user, **(
            {"item_user": item_user} if item_user else {}))
        assert bot.dispatch(bot.requests.event(event)).status == 200
    assert bot.listeners.wait_idle(30)
    assert bot.rows(Vote) == [] and len(bot.rows(PendingReaction)) == 4, "held, not dropped (nor the asker's)"
    waiting.done()
    bot.settle()
    [answer] = bot.rows(Answer)
    assert sorted((v.user_id, v.value, v.source, v.answer_id) for v in bot.rows(Vote)) == [
        ("UDOWN", -1, "reaction", answer.id), ("UQUICK", 1, "reaction", answer.id)], "UFLIP took theirs back"
    assert bot.rows(PendingReaction) == []
    [offer] = [c.body for c in bot.fake.calls_to("chat.postEphemeral")]
    button = offer["blocks"][1]["elements"][0]
    assert (offer["user"], button["action_id"], button["value"]) == ("UDOWN", ACTION_EXPLAIN, str(answer.id))
    bot.event(reaction("reaction_added", "C1", shown, "+1", user="ULATE"))
    assert ("ULATE", 1) in [(v.user_id, v.value) for v in bot.rows(Vote)], "once linked, reactions vote at once"


def test_a_reaction_while_the_summary_is_being_written_is_a_vote(make_bot: MakeBot) -> None:
    """The default path: the evidence is shown and the model is still writing when the asker reacts 👍."""
    held = HeldGenerator()
    bot = make_bot(generator=held)
    ts = _ask(bot)
    assert held.started.wait(10)
    try:
        shown = bot.fake.bot_replies("C1", ts)[-1]["ts"]
        assert bot.dispatch(bot.requests.event(reaction("reaction_added", "C1", shown, "+1", user="UASKER"))).status \
            == 200
        assert bot.listeners.wait_idle(30) and bot.rows(Vote) == []
    finally:
        held.release.set()
    bot.settle()
    [answer] = bot.rows(Answer)
    assert [(v.user_id, v.value, v.answer_id) for v in bot.rows(Vote)] == [("UASKER", 1, answer.id)]
    assert answer.message_ts == shown and len(held.calls) == 1, "recorded after the summary was written"


def test_the_passages_an_answer_re_ranked_without_the_ranking_model_are_ranked_once_it_is_shown(
        make_bot: MakeBot, sessions: sessionmaker[Session], embedder: Embedder, ranker) -> None:  # type: ignore[no-untyped-def]
    """Documents added through Slack have no ranking vectors yet: the first answer on them keeps the search's
    order and, once shown, ranks what it read, so the next question is re-ordered by the ranking model."""
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator(),
                        config=AnsweringConfig(summarise=False, timeout_s=30.0), ranker=ranker)
    bot = make_bot(answerer=answerer)

    def ranked() -> dict[int, str]:
        with sessions() as session:
            return dict(session.execute(select(RankingVectors.chunk_id, RankingVectors.model)).all())

    assert ranked() == {}
    ts = _ask(bot)
    bot.settle()
    assert "02:00 UTC" in bot.final_answer("C1", ts)["text"]
    assert ranked() == dict.fromkeys((row.id for row in bot.rows(Chunk)), "all-mpnet-base-v2")
    again = _ask(bot, "what time are the backups taken?")
    bot.settle()
    assert "02:00 UTC" in bot.final_answer("C1", again)["text"]
