"""The evaluation gate tells signal from noise: it promotes what learned the team's preference and nothing else."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.tiny_models import build_tiny_lora_adapter
from tests.training.feedback_fixtures import FAST_TRAINING, GATE, feedback_items, shuffled_votes, write_dataset
from training.bootstrap import paired_gain
from training.config import GateConfig
from training.dataset_files import DatasetFiles
from training.evaluation import ANSWERS_SKIPPED, ModelScores, evaluate_candidate, judge
from training.scoring import ScoringModel
from training.trainer import train_adapter


@pytest.fixture(scope="module")
def votes(tmp_path_factory: pytest.TempPathFactory) -> DatasetFiles:
    """The team's real preference: 👍 for "new … fast", 👎 for "old … slow"."""
    return write_dataset(tmp_path_factory.mktemp("votes") / "ds-real", feedback_items(32))


@pytest.fixture(scope="module")
def good_adapter(tiny_base_dir: Path, votes: DatasetFiles, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_adapter(base_model=tiny_base_dir, dataset=votes, config=FAST_TRAINING,
                         target=tmp_path_factory.mktemp("good") / "adapter").adapter_dir


@pytest.fixture(scope="module")
def opposite_adapter(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained on the opposite votes: it learned to prefer what the team dislikes."""
    flipped = write_dataset(tmp_path_factory.mktemp("flipped") / "ds-flipped", feedback_items(32, flip=True))
    return train_adapter(base_model=tiny_base_dir, dataset=flipped, config=FAST_TRAINING,
                         target=tmp_path_factory.mktemp("opposite") / "adapter").adapter_dir


def _gate(base: Path, votes: DatasetFiles, candidate: Path, current: Path | None = None, **golden):
    return evaluate_candidate(base_model=base, candidate=candidate, current=current,
                              current_name="serving" if current else "base", eval_rows=votes.rows["kto_eval"],
                              golden_rows=golden.get("golden_rows", []), config=GATE)


def test_an_adapter_that_learned_the_preference_passes_on_its_lower_bound(tiny_base_dir: Path, votes: DatasetFiles,
                                                                           good_adapter: Path) -> None:
    report = _gate(tiny_base_dir, votes, good_adapter)
    assert report.passed, report.reasons
    gain = report.gain
    assert gain is not None and gain.statistic == "reward margin" and (gain.n_good, gain.n_bad) == (4, 4)
    assert gain.lower > GATE.min_margin_gain > 0 and gain.point >= gain.lower
    assert math.isclose(gain.point, report.candidate.margin - report.base.margin, abs_tol=1e-9)
    assert report.reasons[0].startswith("reward margin gain") and "95% lower bound" in report.reasons[0]
    assert report.as_dict()["gain"]["n_good"] == 4  # the figures go into the run's metrics and report


@pytest.mark.parametrize("seed", [1, 4, 6])
def test_an_adapter_trained_on_shuffled_votes_is_rejected(tiny_base_dir: Path, tmp_path: Path, seed: int) -> None:
    """Votes shuffled among the answers carry no preference; what the adapter learns from them is noise.

    On these seeds the candidate's measured margin even beats the base's (the point estimate is
    positive), which the old rule "gain > 0" promoted; the bootstrap's lower bound is below zero.
    """
    noise = write_dataset(tmp_path / "ds-shuffled", shuffled_votes(feedback_items(32), seed=seed))
    candidate = train_adapter(base_model=tiny_base_dir, dataset=noise, config=FAST_TRAINING,
                              target=tmp_path / "adapter").adapter_dir
    report = _gate(tiny_base_dir, noise, candidate)
    assert not report.passed
    assert report.gain is not None and report.gain.lower <= 0 < report.gain.point, report.gain
    assert [r for r in report.reasons if r.startswith("reward margin gain") and "≤ required" in r], report.reasons


def test_an_adapter_trained_on_the_opposite_preference_is_rejected(tiny_base_dir: Path, votes: DatasetFiles,
                                                                    opposite_adapter: Path) -> None:
    report = _gate(tiny_base_dir, votes, opposite_adapter)
    assert not report.passed
    assert any(reason.startswith("reward margin gain") for reason in report.reasons)
    assert report.candidate.margin < report.base.margin and report.gain.lower < 0


def test_a_randomly_perturbed_adapter_does_not_replace_a_good_one(tiny_base_dir: Path, votes: DatasetFiles,
                                                                  good_adapter: Path, tmp_path: Path) -> None:
    random_adapter = build_tiny_lora_adapter(tiny_base_dir, tmp_path / "random", seed=3)
    report = _gate(tiny_base_dir, votes, random_adapter, current=good_adapter)
    assert not report.passed and report.current_name == "serving"
    assert report.current.margin > report.base.margin  # measured against the serving adapter, not the base


def test_the_golden_set_answers_are_generated_and_scored(tiny_base_dir: Path, votes: DatasetFiles,
                                                         good_adapter: Path) -> None:
    golden = [{"prompt": row["prompt"], "completion": row["completion"]}
              for row in votes.rows["kto_eval"] if row["label"]]
    report = _gate(tiny_base_dir, votes, good_adapter, golden_rows=golden)
    assert report.candidate.golden_f1 is not None and report.base.golden_f1 is not None
    assert report.candidate.golden_f1 > report.base.golden_f1  # it learned to say "use the new … config"
    assert [r for r in report.reasons if r.startswith("golden-set answer F1")], report.reasons


def test_a_candidate_rejected_on_likelihood_generates_no_golden_answers(
        tiny_base_dir: Path, votes: DatasetFiles, opposite_adapter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generation is the gate's slowest part on a CPU and can only add a reason to reject: it is skipped."""
    generated: list[int] = []
    real_generate = ScoringModel.generate

    def counted(self: ScoringModel, prompts: list[str], **options: int) -> list[str]:
        generated.append(len(prompts))
        return real_generate(self, prompts, **options)

    monkeypatch.setattr(ScoringModel, "generate", counted)
    golden = [{"prompt": row["prompt"], "completion": row["completion"]}
              for row in votes.rows["kto_eval"] if row["label"]]
    report = _gate(tiny_base_dir, votes, opposite_adapter, golden_rows=golden)
    assert not report.passed and generated == []
    assert report.candidate.golden_f1 is None and report.rules["golden_answers"] == ANSWERS_SKIPPED
    assert report.candidate.golden is not None, "the golden answers' likelihood is still scored"


# --- The rules alone, on measured-looking numbers. ---

SERVING = ModelScores(good_rows=(-2.0,) * 6, bad_rows=(-3.0,) * 6, golden_rows=(-2.5,), general_perplexity=20.0)


def _scores(good: float = -2.0, bad: float = -3.0, *, n_good: int = 6, n_bad: int = 6, spread: float = 0.0,
            golden: float = -2.5, golden_f1: float | None = None, general_perplexity: float = 20.0) -> ModelScores:
    """Rows around the given means; `spread` alternates ± around each mean (noise with the same mean)."""
    def rows(mean: float, n: int) -> tuple[float, ...]:
        return tuple(mean + spread * (1 if i % 2 else -1) for i in range(n))

    return ModelScores(good_rows=rows(good, n_good), bad_rows=rows(bad, n_bad), golden_rows=(golden,),
                       general_perplexity=general_perplexity, golden_f1=golden_f1)


def _serving(n_good: int = 6, n_bad: int = 6) -> ModelScores:
    return _scores(n_good=n_good, n_bad=n_bad)


def test_judge_passes_a_consistent_gain_without_regressions() -> None:
    report = judge(_scores(good=-1.9, bad=-3.5), SERVING, SERVING, GateConfig())
    assert report.passed and len(report.reasons) == 4
    assert report.gain.point == pytest.approx(0.6) and report.gain.lower == pytest.approx(0.6)


def test_judge_rejects_a_gain_whose_lower_bound_is_not_above_zero() -> None:
    """The same +0.6 margin gain, but scattered over the rows: it could as well be noise."""
    noisy = _scores(good=-1.9, bad=-3.5, spread=2.0)
    report = judge(noisy, SERVING, SERVING, GateConfig())
    assert report.gain.point == pytest.approx(0.6) and report.gain.lower <= 0
    assert not report.passed and "≤ required" in report.reasons[0]


def test_the_lower_bound_must_also_clear_the_minimum_gain() -> None:
    small = _scores(good=-1.995, bad=-3.0)  # +0.005 on every row: sure, but too small to matter
    report = judge(small, SERVING, SERVING, GateConfig(min_margin_gain=0.01))
    assert report.gain.lower == pytest.approx(0.005) and not report.passed
    assert judge(small, SERVING, SERVING, GateConfig(min_margin_gain=0.0)).passed


def test_the_issues_noise_is_rejected_for_too_few_held_out_thumbs_up() -> None:
    """+0.0049 measured on 1 👍 against 7 👎 was promoted before the per-class minimum."""
    serving = _serving(n_good=1, n_bad=7)
    candidate = _scores(good=-2.0 + 0.0049, n_good=1, n_bad=7)
    report = judge(candidate, serving, serving, GateConfig(min_margin_gain=0.0))
    assert not report.passed and report.gain is None
    assert report.reasons[0].startswith("too few held-out examples") and "1 👍 and 7 👎" in report.reasons[0]


def test_with_few_thumbs_down_the_gate_judges_the_good_likelihood_alone() -> None:
    serving = _serving(n_good=6, n_bad=2)
    better = _scores(good=-1.5, bad=-1.0, n_good=6, n_bad=2)  # would shrink the margin, if 2 👎 could tell
    report = judge(better, serving, serving, GateConfig())
    assert report.passed and report.gain.statistic == "👍 log-likelihood" and report.gain.n_bad == 0
    assert "2 👎 too few for a margin" in report.reasons[0]
    assert not judge(_serving(n_good=6, n_bad=2), serving, serving, GateConfig()).passed


@pytest.mark.parametrize(("candidate", "reason"), [
    (_scores(good=-2.0, bad=-3.0), "reward margin gain"),
    (_scores(good=-2.3, bad=-5.0), "held-out 👍 log-likelihood"),
    (_scores(good=-1.9, bad=-3.5, golden=-2.7), "golden-set log-likelihood"),
    (_scores(good=-1.9, bad=-3.5, general_perplexity=21.5), "general-text perplexity"),
    (_scores(good=-1.9, bad=-3.5, general_perplexity=math.nan), "general-text perplexity"),
])
def test_judge_rejects_each_regression_with_its_reason(candidate: ModelScores, reason: str) -> None:
    report = judge(candidate, SERVING, SERVING, GateConfig())
    assert not report.passed
    assert [r for r in report.reasons if r.startswith(reason)], report.reasons


def test_the_answer_f1_on_the_golden_set_must_not_fall() -> None:
    serving = _scores(golden_f1=0.40)
    assert judge(_scores(good=-1.9, bad=-3.5, golden_f1=0.38), serving, serving, GateConfig()).passed
    report = judge(_scores(good=-1.9, bad=-3.5, golden_f1=0.30), serving, serving, GateConfig())
    assert not report.passed and report.reasons[0].startswith("golden-set answer F1 0.300 vs 0.400: fell by 0.100")


def test_general_text_is_compared_with_the_base_not_the_serving_adapter() -> None:
    drifted_serving = _scores(general_perplexity=24.0)
    report = judge(_scores(good=-1.9, bad=-3.5, general_perplexity=23.0), drifted_serving, SERVING, GateConfig())
    assert not report.passed and report.reasons[0].startswith("general-text perplexity 23.000 vs base 20.000")


def test_the_bootstrap_is_seeded_and_paired() -> None:
    candidate, current = [0.1, 0.5, -0.2, 0.9, 0.3], [0.0, 0.1, -0.1, 0.2, 0.0]
    first = paired_gain(candidate_good=candidate, current_good=current, seed=7)
    assert first == paired_gain(candidate_good=candidate, current_good=current, seed=7)
    assert first.point == pytest.approx(0.28) and first.lower < first.point
    shifted = paired_gain(candidate_good=[c + 5 for c in candidate], current_good=[c + 5 for c in current], seed=7)
    assert shifted.lower == pytest.approx(first.lower)  # only the row-wise differences matter
    with pytest.raises(ValueError, match="same rows"):
        paired_gain(candidate_good=candidate, current_good=current[:3])
