"""store.ranking_registry on the real database, and the stack both deployment logs are read as."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

from store.deployment_stack import rollback_target, serving_stack
from store.ranking_registry import (
    CONFIGURED,
    RankingChanged,
    RankingTarget,
    RankingVectorsMissing,
    deploy_configured_ranking_model,
    deploy_ranking_model,
    newest_deployed_metrics,
    ranking_history,
    ranking_names_kept,
    rollback_ranking_model,
    rollback_target_now,
    serving_ranking_model,
)


def test_the_stack_pops_rollbacks_and_never_re_serves_what_was_rolled_away_from() -> None:
    log = [(False, "a"), (False, "b"), (True, "a")]
    assert serving_stack(log, None) == ["a"]
    assert rollback_target(serving_stack(log, None), None) is None
    assert serving_stack([*log, (True, None)], None) == [], "a rollback to the default leaves nothing to undo"
    assert rollback_target(["a", "b", "b"], None) == "a", "the same target deployed twice is one step"
    assert rollback_target([], "default") == "default"
    assert serving_stack([(True, "x")], None) == ["x"], "a log that disagrees still ends on what it says serves"


def _deploy(sessions: sessionmaker[Session], name: str, **metrics: object) -> None:
    with sessions.begin() as session:
        deploy_ranking_model(session, folder=f"/models/ranking-tuned/{name}", name=name, actor="test",
                             metrics=dict(metrics))


def test_nothing_deployed_serves_the_configured_model(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert serving_ranking_model(session) == CONFIGURED
        assert ranking_history(session) == [] and ranking_names_kept(session) == set()
        assert newest_deployed_metrics(session) is None


def test_deploy_rollback_and_configured_as_a_stack(sessions: sessionmaker[Session]) -> None:
    _deploy(sessions, "m1", votes_fingerprint="f1")
    _deploy(sessions, "m2", votes_fingerprint="f2")
    with sessions() as session:
        assert serving_ranking_model(session) == RankingTarget("/models/ranking-tuned/m2", "m2")
        assert ranking_names_kept(session) == {"m1", "m2"}
        assert newest_deployed_metrics(session) == {"votes_fingerprint": "f2"}
    with sessions.begin() as session:
        assert rollback_target_now(session) == RankingTarget("/models/ranking-tuned/m1", "m1")
        with pytest.raises(RankingChanged):
            rollback_ranking_model(session, actor="admin", expected="m1")  # m2 serves, not m1
        done = rollback_ranking_model(session, actor="admin", reason="worse answers", expected="m2")
    assert done is not None and done.rolled_from.name == "m2"
    entry = done.entry
    assert (entry.action, entry.name, entry.actor, entry.reason) == ("rollback", "m1", "admin", "worse answers")
    with sessions.begin() as session:
        assert serving_ranking_model(session).name == "m1"
        assert ranking_names_kept(session) == {"m1"}, "m2 was rolled away from: a rollback never re-serves it"
        second = rollback_ranking_model(session, actor="admin")
        assert second is not None and second.entry.folder is None and second.entry.name is None
        assert rollback_ranking_model(session, actor="admin") is None, "nothing served before: nothing to roll back"
    _deploy(sessions, "m3")
    with sessions.begin() as session:
        assert ranking_names_kept(session) == {"m3"}, "a rollback from m3 serves the configured model"
        deploy_configured_ranking_model(session, actor="admin", reason="back to the bundled weights")
        assert serving_ranking_model(session) == CONFIGURED
        assert ranking_names_kept(session) == {"m3"}
        history = ranking_history(session, limit=3)
    assert [entry.action for entry in history] == ["configured", "deploy", "rollback"]
    assert history[1].name == "m3" and history[0].created_at >= history[1].created_at
    with sessions.begin() as session:
        with pytest.raises(RankingVectorsMissing, match="m3"):
            rollback_ranking_model(session, actor="admin", expected=None, require_vectors=True)
        undone = rollback_ranking_model(session, actor="admin", expected=None)
    assert undone is not None and undone.entry.name == "m3", "a deployment of the configured model rolls back"


def test_a_deployment_notifies_the_channel_when_it_commits(sessions: sessionmaker[Session], database_url: str) -> None:
    listen_url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(listen_url, autocommit=True) as connection:
        connection.execute("LISTEN ranking_model_changed")
        _deploy(sessions, "m1")
        notes = list(connection.notifies(timeout=5, stop_after=1))
    assert [note.channel for note in notes] == ["ranking_model_changed"]
