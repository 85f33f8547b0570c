"""The answering runtime (what `kbbot ask`, the Slack processes and the benches build) follows the ranking
registry: it starts on the deployed model, reports it in its heartbeat, switches on a rollback, and with
KB_RANKING_MODEL=off ranks with nothing whatever is deployed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime import build_runtime
from bot.settings import BotSettings
from knowledge.passage_ranking import PassageRanker
from knowledge.ranking_model import ranking_model_dir
from store.ranking_registry import deploy_ranking_model, rollback_ranking_model

MODELS_DIR = Path(__file__).resolve().parents[2] / "var" / "models"


def test_the_runtime_ranks_with_the_deployed_model_and_follows_a_rollback(
        sessions: sessionmaker[Session], database_url: str, ranker: PassageRanker, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"DATABASE_URL": database_url, "KB_MODELS_DIR": str(MODELS_DIR), "KB_RANKING_MODEL": "",
                        "KB_ADAPTER_POLL_INTERVAL_S": "0.2"}.items():
        monkeypatch.setenv(name, value)
    tuned = tmp_path / "ranking-tuned" / "all-mpnet-base-v2-votes-20261130-150000"
    tuned.parent.mkdir()
    tuned.symlink_to(ranking_model_dir(MODELS_DIR))
    with sessions.begin() as session:
        deploy_ranking_model(session, folder=str(tuned), name=tuned.name, actor="test")
    runtime = build_runtime(BotSettings())
    try:
        assert runtime.answerer.ranker is not None and runtime.answerer.ranker.model_name == tuned.name, \
            "a starting process ranks with the deployed model, not the configured one"
        assert runtime.served().ranking_model == tuned.name
        with sessions.begin() as session:
            rollback_ranking_model(session, actor="test")
        started = time.monotonic()
        while runtime.answerer.ranker is None or runtime.answerer.ranker.model_name != ranker.model_name:
            assert time.monotonic() - started < 20, "the runtime did not follow the rollback"
            time.sleep(0.05)
        assert runtime.served().ranking_model == ranker.model_name
    finally:
        runtime.close()

    monkeypatch.setenv("KB_RANKING_MODEL", "off")
    with sessions.begin() as session:
        deploy_ranking_model(session, folder=str(tuned), name=tuned.name, actor="test")
    off = build_runtime(BotSettings(), follow_adapters=False)
    try:
        assert off.answerer.ranker is None and off.ranking_follower is None and off.served().ranking_model is None
    finally:
        off.close()
