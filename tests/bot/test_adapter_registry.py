"""store.adapter_registry on the real database: registration, promotion, rollback as a stack."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.adapter_registry import (
    AdapterNotFound,
    AdapterRecord,
    deploy_base,
    deployment_history,
    promote,
    register_adapter,
    rollback,
    serving_adapter,
)
from store.schema import Adapter


def _register(sessions: sessionmaker[Session], *names: str) -> list[AdapterRecord]:
    with sessions.begin() as session:
        return [
            register_adapter(session, name=name, path=f"/adapters/{name}", base_model="SmolLM2-135M-Instruct")
            for name in names
        ]


def _statuses(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return dict(session.execute(select(Adapter.name, Adapter.status)).all())


def test_nothing_deployed_serves_the_base(sessions: sessionmaker[Session]) -> None:
    _register(sessions, "v1")
    with sessions() as session:
        assert serving_adapter(session) is None
        assert deployment_history(session) == []


def test_promote_serves_the_adapter_and_retires_the_previous(sessions: sessionmaker[Session]) -> None:
    v1, v2 = _register(sessions, "v1", "v2")
    with sessions.begin() as session:
        promote(session, v1.id, actor="U1", reason="gate passed")
    with sessions.begin() as session:
        promote(session, v2.id, actor="U2")

    with sessions() as session:
        assert serving_adapter(session) == v2
        history = deployment_history(session, limit=5)
    assert [(entry.action, entry.adapter, entry.actor) for entry in history] == [
        ("promote", v2, "U2"),
        ("promote", v1, "U1"),
    ]
    assert history[1].reason == "gate passed"
    assert _statuses(sessions) == {"v1": "retired", "v2": "promoted"}


def test_rollback_pops_the_stack_down_to_the_base(sessions: sessionmaker[Session]) -> None:
    v1, v2 = _register(sessions, "v1", "v2")
    for adapter in (v1, v2):
        with sessions.begin() as session:
            promote(session, adapter.id, actor="U1")

    with sessions.begin() as session:
        assert rollback(session, actor="U1") == v1
    assert _statuses(sessions) == {"v1": "promoted", "v2": "rolled_back"}

    with sessions.begin() as session:
        assert rollback(session, actor="U1") is None  # not back to v2: it was rolled away from
    with sessions() as session:
        assert serving_adapter(session) is None
    assert _statuses(sessions) == {"v1": "rolled_back", "v2": "rolled_back"}


def test_rollback_after_a_base_deployment_restores_the_adapter(sessions: sessionmaker[Session]) -> None:
    (v1,) = _register(sessions, "v1")
    with sessions.begin() as session:
        promote(session, v1.id, actor="U1")
    with sessions.begin() as session:
        deploy_base(session, actor="U1", reason="adapter misbehaves")
    with sessions() as session:
        assert serving_adapter(session) is None

    with sessions.begin() as session:
        assert rollback(session, actor="U1") == v1
    assert _statuses(sessions) == {"v1": "promoted"}


def test_rollback_with_nothing_deployed_stays_on_base(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        assert rollback(session, actor="U1") is None
        assert [entry.action for entry in deployment_history(session)] == ["rollback"]


def test_duplicate_names_and_unknown_ids_are_refused(sessions: sessionmaker[Session]) -> None:
    _register(sessions, "v1")
    with sessions() as session, pytest.raises(ValueError, match="immutable"):
        register_adapter(session, name="v1", path="/elsewhere", base_model="x")
    with sessions() as session, pytest.raises(AdapterNotFound):
        promote(session, 999, actor="U1")


def test_a_failed_promotion_writes_nothing(sessions: sessionmaker[Session]) -> None:
    (v1,) = _register(sessions, "v1")
    with pytest.raises(RuntimeError), sessions.begin() as session:
        promote(session, v1.id, actor="U1")
        raise RuntimeError("crash before commit")

    with sessions() as session:
        assert serving_adapter(session) is None
    assert _statuses(sessions) == {"v1": "candidate"}
