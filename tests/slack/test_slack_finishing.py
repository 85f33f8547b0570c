"""A shown answer's bookkeeping (its record and final blocks) comes after the next questions' evidence.

Through signed events into the real app and the fake Slack: the worker shows the evidence, hands the
rest to the finishing pool, and that waits while any question still waits for its evidence (here a
ticket the test holds, as a sibling question would), up to the pause budget.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.answering import Answerer, AnsweringConfig
from bot.evidence_first import EvidenceFirst
from knowledge.embedding import Embedder
from store.schema import Answer
from tests.fakes.slack_requests import mention
from tests.scripted_generator import ScriptedGenerator
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
