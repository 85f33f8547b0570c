"""Fixtures of the learning-loop tests: the tiny model, loop paths, seeded feedback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from sqlalchemy.orm import Session, sessionmaker

from tests.tiny_models import build_tiny_causal_lm
from tests.training.feedback_fixtures import FeedbackItem, seed_feedback
from training.pipeline import LoopPaths

# Two cores shared with other jobs: with the cores busy, a second OpenMP thread spins and makes every step
# slower (measured 2-3x), and the tiny model gains nothing from it.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with a word-level tokenizer (tests/tiny_models.py)."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-base"))


@pytest.fixture
def loop_paths(tmp_path: Path, tiny_base_dir: Path) -> LoopPaths:
    return LoopPaths(base_model=tiny_base_dir, datasets_root=tmp_path / "datasets",
                     adapters_root=tmp_path / "adapters", reports_root=tmp_path / "reports")


@pytest.fixture
def seed(sessions: sessionmaker[Session]) -> Callable[[list[FeedbackItem]], list[int]]:
    return lambda items: seed_feedback(sessions, items)
