"""AdapterFollower on the real database and a tiny model: promote, LISTEN/NOTIFY, rollback, bad files."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.adapter_follower import AdapterFollower
from bot.generation import TransformersGenerator
from store.adapter_registry import (
    AdapterRecord,
    deploy_base,
    deployment_history,
    promote,
    register_adapter,
    rollback,
)


@pytest.fixture
def adapters(
    sessions: sessionmaker[Session], adapter_a_dir: Path, adapter_b_dir: Path, corrupt_adapter_dir: Path
) -> dict[str, AdapterRecord]:
    with sessions.begin() as session:
        return {
            key: register_adapter(session, name=f"answers-{key}", path=str(path), base_model="tiny")
            for key, path in (("a", adapter_a_dir), ("b", adapter_b_dir), ("corrupt", corrupt_adapter_dir))
        }


def _promote(sessions: sessionmaker[Session], adapter: AdapterRecord) -> None:
    with sessions.begin() as session:
        promote(session, adapter.id, actor="test")


def _eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "follower did not converge in time"
        time.sleep(0.02)
    return time.monotonic() - started


def test_sync_once_applies_promote_rollback_and_base(
    sessions: sessionmaker[Session], tiny_generator: TransformersGenerator, adapters: dict[str, AdapterRecord]
) -> None:
    follower = AdapterFollower(sessions, tiny_generator)
    assert follower.sync_once() == (None, "base")

    _promote(sessions, adapters["a"])
    assert follower.sync_once() == (adapters["a"].id, "answers-a")
    assert tiny_generator.adapter_name == "answers-a"

    _promote(sessions, adapters["b"])
    assert follower.sync_once() == (adapters["b"].id, "answers-b")

    with sessions.begin() as session:
        rollback(session, actor="test")
    assert follower.sync_once() == (adapters["a"].id, "answers-a")

    with sessions.begin() as session:
        deploy_base(session, actor="test")
    assert follower.sync_once() == (None, "base")
    assert tiny_generator.adapter_name == "base"


def test_corrupt_adapter_keeps_the_last_good_one_and_records_nothing(
    sessions: sessionmaker[Session], tiny_generator: TransformersGenerator, adapters: dict[str, AdapterRecord]
) -> None:
    follower = AdapterFollower(sessions, tiny_generator)
    _promote(sessions, adapters["a"])
    follower.sync_once()

    _promote(sessions, adapters["corrupt"])
    assert follower.sync_once() == (adapters["a"].id, "answers-a")
    assert follower.current_adapter() == (adapters["a"].id, "answers-a")
    assert tiny_generator.adapter_name == "answers-a"
    with sessions() as session:
        assert len(deployment_history(session)) == 2


def test_corrupt_adapter_at_startup_serves_the_base(
    sessions: sessionmaker[Session], tiny_generator: TransformersGenerator, adapters: dict[str, AdapterRecord]
) -> None:
    _promote(sessions, adapters["corrupt"])

    assert AdapterFollower(sessions, tiny_generator).sync_once() == (None, "base")
    assert tiny_generator.adapter_name == "base"


@pytest.fixture
def following(
    sessions: sessionmaker[Session], tiny_generator: TransformersGenerator
) -> Iterator[AdapterFollower]:
    # A poll far longer than the test: only LISTEN/NOTIFY can make it switch in time.
    follower = AdapterFollower(sessions, tiny_generator, poll_interval_s=60.0)
    follower.start()
    yield follower
    follower.stop()


def test_notify_switches_the_running_follower(
    sessions: sessionmaker[Session],
    tiny_generator: TransformersGenerator,
    adapters: dict[str, AdapterRecord],
    following: AdapterFollower,
) -> None:
    assert following.current_adapter() == (None, "base")

    _promote(sessions, adapters["a"])
    _eventually(lambda: following.current_adapter()[0] == adapters["a"].id)

    _promote(sessions, adapters["b"])
    _eventually(lambda: following.current_adapter()[0] == adapters["b"].id)
    assert tiny_generator.adapter_name == "answers-b"

    with sessions.begin() as session:
        rollback(session, actor="test")
    _eventually(lambda: following.current_adapter()[0] == adapters["a"].id)

    _promote(sessions, adapters["corrupt"])
    time.sleep(0.5)
    assert following.current_adapter() == (adapters["a"].id, "answers-a")

    with sessions.begin() as session:
        deploy_base(session, actor="test")
    _eventually(lambda: following.current_adapter() == (None, "base"))
    assert tiny_generator.adapter_name == "base"


def test_polling_converges_without_notifications(
    sessions: sessionmaker[Session], tiny_generator: TransformersGenerator, adapters: dict[str, AdapterRecord]
) -> None:
    # LISTEN cannot connect here, so only the poll fallback can see the promotion.
    follower = AdapterFollower(
        sessions, tiny_generator, poll_interval_s=0.2, listen_url="postgresql://nobody@127.0.0.1:1/none"
    )
    follower.start()
    try:
        _promote(sessions, adapters["a"])
        _eventually(lambda: follower.current_adapter()[0] == adapters["a"].id)
    finally:
        follower.stop()
