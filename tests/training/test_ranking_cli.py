"""`kbbot train ranking` on a real database: the real answerer's answers, 👍 votes, a tuned model kept and ranked."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.answering import Answerer, AnsweringConfig, Question
from knowledge.embedding import Embedder
from knowledge.passage_ranking import PassageRanker
from store.schema import Chunk, RankingVectors
from tests.answers import vote
from tests.scripted_generator import ScriptedGenerator
from tests.slack.harness import add_document
from tests.training.handbook_votes import TOPICS
from training.__main__ import cli

MODELS_DIR = Path(__file__).resolve().parents[2] / "var" / "models"
QUESTIONS = ("how do I deploy?", "when do the postgres backups run?", "who is on call, and how are they paged?",
             "how do I submit an expense?", "how do I connect to the office VPN?",
             "what does a pull request need before it merges?", "how do I book holidays?", "how do I order a laptop?",
             "what's the command to deploy from the repository?", "where are the nightly postgres backups copied?")
"""Teammate questions the handbook answers (the first eight one per topic, in TOPICS' order)."""


def answer_and_upvote(sessions: sessionmaker[Session], answerer: Answerer, questions: Sequence[str]) -> None:
    """Ask each question as a teammate would, check the answer quotes the right topic first, click 👍."""
    headings = [heading for heading, _ in TOPICS.values()]
    for number, text in enumerate(questions):
        result = answerer.answer(Question(text=text, conversation_kind="public", channel="C1"))
        assert not result.abstained, text
        assert result.citations[0].label.endswith(headings[number % len(headings)]), (text, result.citations[0])
        vote(sessions, answer_id=result.answer_id, user_id="UVOTER", value=1, source="button")


def test_train_ranking_refuses_without_votes_then_keeps_a_tuned_model_and_ranks_every_passage(
        sessions: sessionmaker[Session], embedder: Embedder, ranker: PassageRanker, database_url: str,
        tmp_path: Path) -> None:
    for heading, text in TOPICS.values():
        add_document(sessions, embedder, heading, f"# {heading}\n\n{text}")
    env = {"DATABASE_URL": database_url, "KB_MODELS_DIR": str(MODELS_DIR), "KB_RANKING_MODEL": ""}
    out = tmp_path / "tuned"
    arguments = ["ranking", "--output-dir", str(out), "--min-train", "4", "--min-held-out", "1", "--rank"]

    refused = CliRunner().invoke(cli, arguments, env=env)
    assert refused.exit_code == 1
    assert "not enough 👍 votes to tune the ranking model: 0 training pairs and 0 held out (needs 4 and 1)" in \
        refused.output
    assert not out.exists()

    answerer = Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator("unused"), ranker=ranker,
                        config=AnsweringConfig(summarise=False))
    answer_and_upvote(sessions, answerer, QUESTIONS)

    result = CliRunner().invoke(cli, arguments, env=env)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["kept"] is True and payload["train_pairs"] + payload["held_out"] == len(QUESTIONS)
    assert payload["held_out"] >= 1 and payload["gate"]["serving"]["votes"] == payload["held_out"]
    assert payload["votes_on_removed_passages"] == 0 and payload["excluded"] == {}
    assert payload["gate_passed"] is True and payload["forced"] is False
    assert payload["gate"]["lost"] <= payload["held_out"] and "first" not in payload["gate"]["tuned"]
    folder = Path(payload["folder"])
    assert folder.parent == out and (folder / "kbbot-ranking-tuning.json").is_file()
    assert f"kept {payload['name']}: to serve it, set KB_RANKING_MODEL={folder}" in result.output
    with sessions() as session:
        chunks = session.scalar(select(func.count()).select_from(Chunk))
        ranked = session.scalar(select(func.count()).select_from(RankingVectors)
                                .where(RankingVectors.model == payload["name"]))
    assert payload["passages_ranked"] == chunks == ranked == len(TOPICS), "switching to it needs no ranking pass"
    with sessions() as session:
        serving = session.scalar(select(func.count()).select_from(RankingVectors)
                                 .where(RankingVectors.model == ranker.model_name))
    assert serving == len(TOPICS), "the serving model's vectors stay for the processes that still read them"
    assert payload["serving"] == "all-mpnet-base-v2" and payload["rank_error"] is None
