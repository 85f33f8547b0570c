"""RankingFollower on the real database with the real ranking model: deploy, NOTIFY, rollback, bad folders.

Tuned models are stood in for by the bundled all-mpnet-base-v2 under other names (symlinked folders):
what the follower acts on is the registry's folder and name, and loading the real weights is what a
switch costs. `kbbot train ranking --deploy` with a really tuned model is tested in
tests/training/test_ranking_cli.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.ranking_follower import RankingFollower
from knowledge.passage_ranking import PassageRanker
from knowledge.ranking_model import RankingModelError, ranking_model_dir
from store.ranking_registry import deploy_ranking_model, rollback_ranking_model

MODELS_DIR = Path(__file__).resolve().parents[2] / "var" / "models"
BUNDLED = "all-mpnet-base-v2"


def _tuned(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "ranking-tuned" / name
    folder.parent.mkdir(exist_ok=True)
    folder.symlink_to(ranking_model_dir(MODELS_DIR))
    return folder


def _deploy(sessions: sessionmaker[Session], folder: Path) -> None:
    with sessions.begin() as session:
        deploy_ranking_model(session, folder=str(folder), name=folder.name, actor="test")


def _eventually(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "the follower did not converge in time"
        time.sleep(0.05)


def test_follows_deployments_and_rollbacks_and_hands_each_model_to_the_answers(
        sessions: sessionmaker[Session], ranker: PassageRanker, tmp_path: Path) -> None:
    handed: list[str | None] = []
    follower = RankingFollower(sessions, setting="", models_dir=MODELS_DIR)
    follower.serve(lambda model: handed.append(None if model is None else model.model_name), follow=False)
    assert not follower.alive() and handed == [BUNDLED], "the serving model is handed over at once"
    assert follower.sync_once() == BUNDLED and follower.ranker is not None
    assert follower.ranker.query_backend == "onnx", "the configured model's questions go through its export"
    tuned = _tuned(tmp_path, "all-mpnet-base-v2-votes-20261130-120000")
    _deploy(sessions, tuned)
    assert follower.sync_once() == tuned.name
    assert handed == [BUNDLED, tuned.name]
    assert follower.sync_once() == tuned.name and len(handed) == 2, "an unchanged registry loads nothing"
    with sessions.begin() as session:
        rollback_ranking_model(session, actor="test")
    assert follower.sync_once() == BUNDLED and handed[-1] == BUNDLED


def test_a_notification_switches_the_running_follower_before_its_poll(
        sessions: sessionmaker[Session], ranker: PassageRanker, tmp_path: Path) -> None:
    follower = RankingFollower(sessions, setting="", models_dir=MODELS_DIR, poll_interval_s=300)
    follower.start()
    try:
        assert follower.alive() and follower.serving_name() == BUNDLED
        tuned = _tuned(tmp_path, "all-mpnet-base-v2-votes-20261130-130000")
        _deploy(sessions, tuned)
        _eventually(lambda: follower.serving_name() == tuned.name)
    finally:
        follower.stop()
    assert not follower.alive()


def test_a_deployed_model_that_cannot_load_keeps_the_current_one_until_it_can(
        sessions: sessionmaker[Session], ranker: PassageRanker, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    follower = RankingFollower(sessions, setting="", models_dir=MODELS_DIR, retry_failed_after_s=0.5)
    assert follower.sync_once() == BUNDLED
    missing = tmp_path / "ranking-tuned" / "all-mpnet-base-v2-votes-20261130-140000"
    _deploy(sessions, missing)
    with caplog.at_level(logging.ERROR, logger="bot.ranking_follower"):
        assert follower.sync_once() == BUNDLED
        assert follower.sync_once() == BUNDLED
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1, "a failed load is retried only after retry_failed_after_s"
    assert f"ranking model {missing} is deployed but cannot be loaded; still ranking with {BUNDLED}" in errors[0]
    missing.parent.mkdir(exist_ok=True)
    missing.symlink_to(ranking_model_dir(MODELS_DIR))  # the folder restored
    time.sleep(0.6)
    assert follower.sync_once() == missing.name


def test_a_starting_process_falls_back_to_the_configured_model_and_fails_only_when_nothing_loads(
        sessions: sessionmaker[Session], ranker: PassageRanker, tmp_path: Path) -> None:
    _deploy(sessions, tmp_path / "gone")
    assert RankingFollower(sessions, setting="", models_dir=MODELS_DIR).sync_once() == BUNDLED
    nothing = RankingFollower(sessions, setting=str(tmp_path / "no-configured-model"), models_dir=MODELS_DIR)
    with pytest.raises(RankingModelError, match="no ranking model at"):
        nothing.sync_once()
