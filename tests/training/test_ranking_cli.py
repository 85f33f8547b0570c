"""`kbbot train ranking` on a real database: the real answerer's answers, 👍 votes, a tuned model kept and ranked,
then deployed to an answerer that follows the registry, the worker's periodic run, and a rollback."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.answering import Answerer, AnsweringConfig, Question
from bot.ranking_follower import RankingFollower
from knowledge.embedding import Embedder
from knowledge.passage_ranking import PassageRanker
from store.schema import Answer, Chunk, RankingVectors
from tests.answers import vote
from tests.scripted_generator import ScriptedGenerator
from tests.slack.harness import add_document
from tests.training.handbook_votes import TOPICS
from training.__main__ import _ranking_tuning, cli
from training.config import DatasetConfig

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
    assert f"kept {payload['name']}: to serve it, rerun with --deploy" in result.output
    assert payload["deployed"] is None and payload["vectors_pruned"] is None
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


def _eventually(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "the answers did not switch ranking model in time"
        time.sleep(0.05)


def _ranked_by(sessions: sessionmaker[Session], answerer: Answerer, text: str) -> str:
    """Ask `text`, check it is answered from its topic, and return the ranking model its answer row names."""
    result = answerer.answer(Question(text=text, conversation_kind="public", channel="C1"))
    assert not result.abstained and result.citations[0].label.endswith("Holidays"), result.citations
    with sessions() as session:
        relevance = session.scalar(select(Answer.relevance).where(Answer.id == result.answer_id))
    assert relevance is not None and relevance["ranking_score"] is not None, "every re-ordered passage had vectors"
    return str(relevance["ranking_model"])


def test_train_ranking_deploy_switches_a_following_answerer_and_a_rollback_switches_it_back(
        sessions: sessionmaker[Session], embedder: Embedder, ranker: PassageRanker, database_url: str, engine: Engine,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    for heading, text in TOPICS.values():
        add_document(sessions, embedder, heading, f"# {heading}\n\n{text}")
    env = {"DATABASE_URL": database_url, "KB_MODELS_DIR": str(MODELS_DIR), "KB_RANKING_MODEL": ""}
    follower = RankingFollower(sessions, setting="", models_dir=MODELS_DIR, poll_interval_s=300)
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator("unused"),
                        config=AnsweringConfig(summarise=False))
    follower.serve(answerer.use_ranker)
    try:
        answer_and_upvote(sessions, answerer, QUESTIONS)
        probe = "can I take next friday off?"
        assert _ranked_by(sessions, answerer, probe) == ranker.model_name

        out = tmp_path / "tuned"
        deployed = CliRunner().invoke(cli, ["ranking", "--output-dir", str(out), "--min-train", "4",
                                            "--min-held-out", "1", "--deploy"], env=env)
        assert deployed.exit_code == 0, deployed.output
        payload = json.loads(deployed.stdout)
        assert payload["gate_passed"] is True and isinstance(payload["deployed"], int)
        assert payload["passages_ranked"] == len(TOPICS) and payload["vectors_pruned"] == 0
        assert f"deployed {payload['name']}: every answering process ranks with it within seconds" in deployed.output
        assert (out / ".onnx" / payload["name"] / "kbbot-onnx-export.json").is_file(), \
            "its question side was exported before it serves"
        _eventually(lambda: answerer.ranker is not None and answerer.ranker.model_name == payload["name"])
        assert answerer.ranker is not None and answerer.ranker.query_backend == "onnx"
        assert _ranked_by(sessions, answerer, probe) == payload["name"], "ranked by the tuned model's own vectors"

        for name, value in env.items():
            monkeypatch.setenv(name, value)
        periodic = _ranking_tuning(engine, "41 4 * * 0", DatasetConfig())
        assert periodic is not None and _ranking_tuning(engine, "off", DatasetConfig()) is None
        with caplog.at_level(logging.INFO, logger="training.__main__"):
            periodic()
        assert f"ranking model not tuned: no new votes since {payload['name']}" in caplog.text

        rolled = CliRunner().invoke(cli, ["ranking-rollback", "--reason", "worse answers"], env=env)
        assert rolled.exit_code == 0, rolled.output
        assert json.loads(rolled.stdout)["serving"] == "the configured model (KB_RANKING_MODEL)"
        _eventually(lambda: answerer.ranker is not None and answerer.ranker.model_name == ranker.model_name)
        assert _ranked_by(sessions, answerer, probe) == ranker.model_name
        history = json.loads(CliRunner().invoke(cli, ["ranking-history"], env=env).stdout)["deployments"]
        deployed_metrics = history[1]["metrics"]  # what the App Home reads of the serving model
        assert deployed_metrics["gate_votes"]["lost"] == payload["gate"]["lost"]
        assert deployed_metrics["train_pairs"] == payload["train_pairs"] and "votes_fingerprint" in deployed_metrics
        assert [(entry["action"], entry["name"], entry["reason"]) for entry in history] == [
            ("rollback", None, "worse answers"),
            ("deploy", payload["name"], f"tuned on {payload['train_pairs']} 👍 votes")]
    finally:
        follower.stop()




def test_ranking_rollback_computes_the_vectors_a_pruned_model_lacks_and_refuses_what_it_cannot_serve(
        sessions: sessionmaker[Session], embedder: Embedder, ranker: PassageRanker, database_url: str,
        tmp_path: Path) -> None:
    from knowledge.passage_ranking import rank_missing
    from knowledge.ranking_model import ranking_model_dir
    from store.ranking_registry import deploy_ranking_model

    for heading, text in TOPICS.values():
        add_document(sessions, embedder, heading, f"# {heading}\n\n{text}")
    rank_missing(sessions, ranker)
    env = {"DATABASE_URL": database_url, "KB_MODELS_DIR": str(MODELS_DIR), "KB_RANKING_MODEL": ""}
    folders = {name: tmp_path / name for name in ("mpnet-votes-1", "mpnet-votes-2")}
    for folder in folders.values():
        folder.symlink_to(ranking_model_dir(MODELS_DIR))  # the bundled weights under tuned names
    with sessions.begin() as session:  # deployed one after the other; the first one's vectors were pruned since
        for name, folder in folders.items():
            deploy_ranking_model(session, folder=str(folder), name=name, actor="schedule")

    rolled = CliRunner().invoke(cli, ["ranking-rollback", "--reason", "worse"], env=env)
    assert rolled.exit_code == 0, rolled.output
    payload = json.loads(rolled.stdout)
    assert (payload["rolled_back_from"], payload["serving"]) == ("mpnet-votes-2", "mpnet-votes-1")
    assert payload["passages_ranked"] == len(TOPICS), "its vectors were computed before it served"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RankingVectors)
                              .where(RankingVectors.model == "mpnet-votes-1")) == len(TOPICS)
    back = json.loads(CliRunner().invoke(cli, ["ranking-rollback"], env=env).stdout)
    assert back["serving"] == "the configured model (KB_RANKING_MODEL)" and back["passages_ranked"] == 0
    nothing = CliRunner().invoke(cli, ["ranking-rollback"], env=env)
    assert nothing.exit_code == 1 and "no earlier ranking model to roll back to" in nothing.output

    gone = tmp_path / "mpnet-votes-0"
    with sessions.begin() as session:
        deploy_ranking_model(session, folder=str(gone), name=gone.name, actor="schedule")
        deploy_ranking_model(session, folder=str(folders["mpnet-votes-2"]), name="mpnet-votes-2", actor="schedule")
    refused = CliRunner().invoke(cli, ["ranking-rollback"], env=env)
    assert refused.exit_code == 1 and ("the ranking model a rollback would serve, mpnet-votes-0, no longer has its "
                                       f"passages' vectors, and its folder {gone} is missing") in refused.output
    status = json.loads(CliRunner().invoke(cli, ["status"], env=env).stdout)
    assert status["ranking_model"] == "mpnet-votes-2", "a refused rollback changes nothing"


def test_the_worker_does_not_retune_votes_whose_model_the_gate_refused(
        sessions: sessionmaker[Session], engine: Engine, tmp_path: Path) -> None:
    from training.ranking_loop import (
        LAST_REFUSED_FILE,
        RankingLoopSettings,
        _last_refused,
        _remember_refused,
        run_ranking_loop,
        votes_fingerprint,
    )
    from training.ranking_votes import RankingVotes

    settings = RankingLoopSettings(setting="", models_dir=MODELS_DIR, out_root=tmp_path, deploy=True,
                                   only_if_new=True)
    (tmp_path / LAST_REFUSED_FILE).write_text("{not json")
    assert _last_refused(tmp_path) is None, "an unreadable record retunes rather than fails"
    _remember_refused(tmp_path, votes_fingerprint(RankingVotes(train=[], held_out=[])))  # what a refusal writes
    outcome = run_ranking_loop(engine, sessions, settings, DatasetConfig())
    assert outcome.skipped == "no new votes since the last tuning, which the gate refused" and outcome.result is None
