"""From Slack to training data: what real Slack use feeds the dataset builder.

Everything goes through signed Slack events and interactions into the real app; the dataset is
built from the database by the training package's own reader and builder. No answer row is written
by hand: the scope, the trained text and the corrections are whatever the Slack path recorded.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.slack.blocks import ACTION_FEEDBACK
from store.datasets_store import rated_answers
from store.schema import Answer, Chunk
from tests.fakes.slack_requests import block_action, feedback_buttons_action
from tests.scripted_generator import ScriptedGenerator
from tests.slack.conftest import MakeBot
from tests.slack.harness import DEPLOY_SUMMARY, SlackHarness
from training.config import DatasetConfig
from training.dataset_builder import build_dataset
from training.ranking_votes import ranking_votes

pytestmark = pytest.mark.usefixtures("documents")
VOTER = "UVOTER"
LOOSE = DatasetConfig(min_desirable=1, min_undesirable=1, min_eval_examples=1, min_eval_per_class=1,
                      eval_fraction=0.01)
"""Minimum counts low enough that a handful of Slack answers make a dataset."""


def kto_rows(built: Any) -> list[dict[str, Any]]:
    """Every KTO row, training and held out."""
    return built.files["kto_train"] + built.files["kto_eval"]


def vote(bot: SlackHarness, channel: str, thread_ts: str, direction: str, *, user: str = VOTER) -> int:
    """Click 👍/👎 on the answer in the thread; returns the answer id."""
    answer = bot.final_answer(channel, thread_ts)
    element = next(b for b in answer["blocks"] if b["type"] == "context_actions")["elements"][0]
    answer_id = int(element["positive_button"]["value"].split(":")[1])
    action = feedback_buttons_action(f"{direction}:{answer_id}", action_id=ACTION_FEEDBACK, block_id="kb.feedback.x")
    response = bot.interact(block_action(action, channel=channel, message_ts=answer["ts"], thread_ts=thread_ts,
                                         user=user, response_base=bot.fake.base))
    assert response.status == 200
    return answer_id


def dataset(bot: SlackHarness, config: DatasetConfig = LOOSE) -> Any:
    with bot.sessions() as session:
        return build_dataset(rated_answers(session), config)


def test_public_channel_feedback_trains_and_private_feedback_stays_out(make_bot: MakeBot) -> None:
    bot = make_bot(generator=ScriptedGenerator(f"{DEPLOY_SUMMARY} Then ping @oncall at https://pager.example.com [1]."))
    bot.fake.set_channel("C1")
    bot.fake.set_channel("G1", is_private=True)
    public_ts = bot.ask("How do I deploy the billing service?", channel="C1")
    private_ts = bot.ask("How do I deploy the billing service?", channel="G1")
    up = vote(bot, "C1", public_ts, "up")
    down_private = vote(bot, "G1", private_ts, "down")

    rows = {row.id: row for row in bot.rows(Answer)}
    assert (rows[up].scope, rows[up].conversation_kind) == ("workspace", "public")
    assert (rows[down_private].scope, rows[down_private].conversation_kind) == ("G1", "private")

    built = dataset(bot)
    assert built.stats["excluded"] == {"private_scope": 1}, "only the private channel's answer stays out"
    [row] = kto_rows(built)
    assert (row["answer_id"], row["label"], row["source"]) == (up, True, "vote")
    # What is trained is what the asker saw: the quoted evidence and the checked summary, never the
    # raw completion's unsupported sentence.
    assert "run `make deploy` from the repository root" in row["completion"]
    assert "pager.example.com" not in row["completion"] and "pager.example.com" in rows[up].completion
    assert row["completion"].rstrip().endswith(DEPLOY_SUMMARY)


def test_a_teammates_correction_is_a_desirable_row_of_the_main_run(make_bot: MakeBot) -> None:
    bot = make_bot(generator=ScriptedGenerator("Run make deploy from the repository root [1]."))
    first = bot.ask("How do I deploy the billing service?")
    second = bot.ask("When do database backups run?")
    up = vote(bot, "C1", second, "up")
    down = vote(bot, "C1", first, "down")
    bot.ask("You also need the release role in the admin console before make deploy works.", thread_ts=first,
            as_mention=False, user="UEXPERT")

    built = dataset(bot)
    rows = kto_rows(built)
    assert {(row["answer_id"], row["source"], row["label"]) for row in rows} == {
        (up, "vote", True), (down, "vote", False), (down, "correction", True)}
    [correction] = [row for row in rows if row["source"] == "correction"]
    [downvoted] = [row for row in rows if row["answer_id"] == down and not row["label"]]
    assert correction["prompt"] == downvoted["prompt"], "the correction answers the prompt the model saw"
    assert correction["prompt"].startswith("<|system|>") and "make deploy" in correction["prompt"]
    assert correction["completion"].startswith("You also need the release role")
    counted = {key: built.stats["train"][key] + built.stats["eval"][key] for key in built.stats["train"]}
    assert counted == {"desirable": 2, "undesirable": 1, "corrections": 1}


def test_a_dm_answer_is_private_without_asking_slack(make_bot: MakeBot) -> None:
    bot = make_bot()
    ts = bot.ask("How do I deploy the billing service?", channel="D1", as_mention=False)
    answer_id = vote(bot, "D1", ts, "up")
    [row] = [r for r in bot.rows(Answer) if r.id == answer_id]
    assert (row.scope, row.conversation_kind) == ("D1", "im")
    assert not bot.fake.calls_to("conversations.info"), "message.im events say channel_type im"
    assert dataset(bot).stats["excluded"] == {"private_scope": 1}


def test_a_voted_abstention_is_counted_as_abstained_not_corrupt(make_bot: MakeBot) -> None:
    bot = make_bot()
    ts = bot.ask("How do I rotate the Kubernetes secrets in Vault?")
    vote(bot, "C1", ts, "down")
    [row] = bot.rows(Answer)
    assert row.abstained and row.completion == "" and row.prompt == ""
    assert dataset(bot).stats["excluded"] == {"abstained": 1}


def test_upvoted_public_answers_become_ranking_pairs_with_the_passage_they_quoted_first(
        make_bot: MakeBot, documents: dict[str, int]) -> None:
    bot = make_bot(generator=ScriptedGenerator(DEPLOY_SUMMARY))
    bot.fake.set_channel("C1")
    bot.fake.set_channel("G1", is_private=True)
    deploy = vote(bot, "C1", bot.ask("How do I deploy the billing service?", channel="C1"), "up")
    backups = vote(bot, "C1", bot.ask("When do database backups run? my key is AKIAIOSFODNN7EXAMPLE", channel="C1"),
                   "up")
    vote(bot, "C1", bot.ask("what does the release role unlock?", channel="C1"), "down")
    vote(bot, "G1", bot.ask("How do I deploy the billing service?", channel="G1"), "up")
    thread = bot.ask("Where do the backups go?", channel="C1")
    bot.ask("and how are they restored?", channel="C1", thread_ts=thread, as_mention=False)
    follow_up = vote(bot, "C1", thread, "up")

    with bot.sessions() as session:
        votes = ranking_votes(rated_answers(session), LOOSE, held_out_share=0.5)
        chunk_documents = {chunk_id: document_id for chunk_id, document_id in session.execute(
            select(Chunk.id, Chunk.document_id))}
    assert votes.excluded == {"not_upvoted": 1, "private_scope": 1}
    pairs = {vote.answer_id: vote for vote in [*votes.train, *votes.held_out]}
    assert set(pairs) == {deploy, backups, follow_up} and votes.held_out, "split by question"
    assert pairs[follow_up].question == "Where do the backups go?\nand how are they restored?", \
        "a follow-up trains on what was searched: the previous turn and the reply"
    rows = {row.id: row for row in bot.rows(Answer)}
    for answer_id, title in ((deploy, "Deploying the billing service"), (backups, "Database backups")):
        assert pairs[answer_id].chunk_id == rows[answer_id].passages[0]["chunk_id"], "the passage quoted first"
        assert chunk_documents[pairs[answer_id].chunk_id] == documents[title]
        assert pairs[answer_id].sources == tuple(p["chunk_id"] for p in rows[answer_id].passages)
    assert "AKIAIOSFODNN7EXAMPLE" not in pairs[backups].question, "questions are scrubbed before training"
    assert pairs[backups].question.startswith("When do database backups run?")
