"""Fixtures of the learning-loop tests: the tiny model, loop paths, seeded feedback, an empty job queue."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from sqlalchemy import Engine, text
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


@pytest.fixture
def queue(engine: Engine, sessions: sessionmaker[Session]) -> Iterator[None]:
    """procrastinate's tables emptied before and after the test (jobs, events, periodic defers, workers).

    It asks for `sessions` too, so the product's tables start empty as well.
    """
    def empty() -> None:
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE procrastinate.procrastinate_jobs, procrastinate.procrastinate_events, "
                                    "procrastinate.procrastinate_periodic_defers, procrastinate.procrastinate_workers "
                                    "RESTART IDENTITY CASCADE"))
    empty()
    yield
    empty()
