"""The follower refuses an adapter trained on another base model than the one served (real database, tiny model)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.adapter_follower import AdapterFollower
from bot.generation import TransformersGenerator
from store.adapter_registry import deploy_base, promote, register_adapter
from store.config import same_base_model


def _register_and_promote(sessions: sessionmaker[Session], name: str, path: Path, base_model: str) -> int:
    with sessions.begin() as session:
        record = register_adapter(session, name=name, path=str(path), base_model=base_model)
        promote(session, record.id, actor="test")
        return record.id


def test_an_adapter_of_another_base_is_refused_logged_once_and_explained(
    sessions: sessionmaker[Session], tiny_generator: TransformersGenerator, tiny_lm_dir: Path, adapter_a_dir: Path,
    adapter_b_dir: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    follower = AdapterFollower(sessions, tiny_generator, served_base_model=str(tiny_lm_dir))
    fitting = _register_and_promote(sessions, "fits", adapter_a_dir, str(tiny_lm_dir))
    assert follower.sync_once() == (fitting, "fits") and follower.refusal() is None

    foreign = _register_and_promote(sessions, "foreign", adapter_b_dir, "/models/Llama-3-8B-Instruct")
    with caplog.at_level(logging.ERROR, logger="bot.adapter_follower"):
        assert follower.sync_once() == (fitting, "fits"), "the adapter that fits keeps serving"
        assert follower.sync_once() == (fitting, "fits")
    assert tiny_generator.adapter_name == "fits"
    reason = follower.refusal()
    assert reason is not None
    for expected in (f"foreign (id {foreign})", "'/models/Llama-3-8B-Instruct'", str(tiny_lm_dir), "still serving fits",
                     "KB_BASE_MODEL"):
        assert expected in reason
    refusals = [record for record in caplog.records if "refusing to serve" in record.getMessage()]
    assert len(refusals) == 1, "logged once, not on every poll"

    with sessions.begin() as session:
        deploy_base(session, actor="test")
    assert follower.sync_once() == (None, "base") and follower.refusal() is None


def test_without_a_served_base_the_check_is_off(sessions: sessionmaker[Session], tiny_generator: TransformersGenerator,
                                                adapter_a_dir: Path) -> None:
    adapter = _register_and_promote(sessions, "anything", adapter_a_dir, "/models/elsewhere")
    follower = AdapterFollower(sessions, tiny_generator)
    assert follower.sync_once() == (adapter, "anything") and follower.refusal() is None


def test_base_models_compare_as_resolved_paths_or_equal_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert same_base_model("var/models/SmolLM2", str(tmp_path / "var" / "models" / "SmolLM2"))
    assert same_base_model("Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct")
    assert same_base_model("", "anything"), "an adapter registered without a base is not refused"
    assert not same_base_model("var/models/SmolLM2", "var/models/Llama")
    assert not same_base_model("Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-14B-Instruct")
