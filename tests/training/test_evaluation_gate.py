"""The evaluation gate: passes an adapter that learned the team's preference, rejects bad ones."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.tiny_models import build_tiny_lora_adapter
from tests.training.feedback_fixtures import FAST_TRAINING, GATE, feedback_items, write_dataset
from training.config import GateConfig
from training.dataset_files import DatasetFiles
from training.evaluation import ModelScores, evaluate_candidate, judge
from training.trainer import train_adapter


@pytest.fixture(scope="module")
def votes(tmp_path_factory: pytest.TempPathFactory) -> DatasetFiles:
    """The team's real preference: 👍 for "new … fast", 👎 for "old … slow"."""
    return write_dataset(tmp_path_factory.mktemp("votes") / "ds-real", feedback_items(24))


@pytest.fixture(scope="module")
def good_adapter(tiny_base_dir: Path, votes: DatasetFiles, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_adapter(base_model=tiny_base_dir, dataset=votes, config=FAST_TRAINING,
                         target=tmp_path_factory.mktemp("good") / "adapter").adapter_dir


@pytest.fixture(scope="module")
def opposite_adapter(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained on the opposite votes: it learned to prefer what the team dislikes."""
    flipped = write_dataset(tmp_path_factory.mktemp("flipped") / "ds-flipped", feedback_items(24, flip=True))
    return train_adapter(base_model=tiny_base_dir, dataset=flipped, config=FAST_TRAINING,
                         target=tmp_path_factory.mktemp("opposite") / "adapter").adapter_dir


def _gate(base: Path, votes: DatasetFiles, candidate: Path, current: Path | None = None):
    return evaluate_candidate(base_model=base, candidate=candidate, current=current,
                              current_name="serving" if current else "base", eval_rows=votes.rows["kto_eval"],
                              golden_rows=[], config=GATE)


def test_an_adapter_that_learned_the_preference_passes(tiny_base_dir: Path, votes: DatasetFiles,
                                                        good_adapter: Path) -> None:
    report = _gate(tiny_base_dir, votes, good_adapter)
    assert report.passed, report.reasons
    assert report.candidate.margin > report.base.margin
    assert report.candidate.good > report.base.good


def test_an_adapter_trained_on_the_opposite_preference_is_rejected(tiny_base_dir: Path, votes: DatasetFiles,
                                                                    opposite_adapter: Path) -> None:
    report = _gate(tiny_base_dir, votes, opposite_adapter)
    assert not report.passed
    assert any(reason.startswith("reward margin") for reason in report.reasons)
    assert report.candidate.margin < report.base.margin


def test_a_randomly_perturbed_adapter_does_not_replace_a_good_one(tiny_base_dir: Path, votes: DatasetFiles,
                                                                  good_adapter: Path, tmp_path: Path) -> None:
    random_adapter = build_tiny_lora_adapter(tiny_base_dir, tmp_path / "random", seed=3)
    report = _gate(tiny_base_dir, votes, random_adapter, current=good_adapter)
    assert not report.passed and report.current_name == "serving"
    assert report.current.margin > report.base.margin  # measured against the serving adapter, not the base


SCORES = ModelScores(good=-2.0, bad=-3.0, golden=-2.5, general_perplexity=20.0)


def _scores(**changes: float) -> ModelScores:
    values = {"good": SCORES.good, "bad": SCORES.bad, "golden": SCORES.golden,
              "general_perplexity": SCORES.general_perplexity} | changes
    return ModelScores(**values)


def test_judge_passes_a_wider_margin_without_regressions() -> None:
    report = judge(_scores(good=-1.9, bad=-3.5), SCORES, SCORES, GateConfig())
    assert report.passed and len(report.reasons) == 4


@pytest.mark.parametrize(("candidate", "reason"), [
    (_scores(good=-2.0, bad=-3.0), "reward margin"),
    (_scores(good=-2.3, bad=-5.0), "held-out 👍 log-likelihood"),
    (_scores(good=-1.9, bad=-3.5, golden=-2.7), "golden-set log-likelihood"),
    (_scores(good=-1.9, bad=-3.5, general_perplexity=21.5), "general-text perplexity"),
    (_scores(good=-1.9, bad=-3.5, general_perplexity=math.nan), "general-text perplexity"),
])
def test_judge_rejects_each_regression_with_its_reason(candidate: ModelScores, reason: str) -> None:
    report = judge(candidate, SCORES, SCORES, GateConfig())
    assert not report.passed
    assert [r for r in report.reasons if r.startswith(reason)], report.reasons


def test_general_text_is_compared_with_the_base_not_the_serving_adapter() -> None:
    drifted_serving = _scores(general_perplexity=24.0)
    report = judge(_scores(good=-1.9, bad=-3.5, general_perplexity=23.0), drifted_serving, SCORES, GateConfig())
    assert not report.passed and report.reasons[0].startswith("general-text perplexity 23.000 vs base 20.000")


def test_without_held_out_thumbs_down_the_gate_uses_the_good_likelihood() -> None:
    only_good = ModelScores(good=-2.0, bad=None, golden=None, general_perplexity=20.0)
    better = ModelScores(good=-1.5, bad=None, golden=None, general_perplexity=20.0)
    assert judge(better, only_good, only_good, GateConfig()).passed
    assert not judge(only_good, only_good, only_good, GateConfig()).passed
