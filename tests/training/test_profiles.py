"""Training profiles: which one `auto` picks, what the environment still overrides, lengths from the data."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from tests.training.feedback_fixtures import FAST_TRAINING, feedback_items, write_dataset
from training.profiles import LENGTH_HEADROOM, max_length_from_lengths, resolve_profile, rows_within_budget
from training.scoring import completion_token_ids
from training.settings import TrainingSettings
from training.trainer import _rows, _trainer_args


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TRAINING_* variable of the machine running the tests leaks into these settings."""
    import os

    for name in list(os.environ):
        if name.startswith("TRAINING_"):
            monkeypatch.delenv(name)


def test_auto_is_the_cpu_profile_without_cuda_and_the_gpu_profile_with_it() -> None:
    assert TrainingSettings().resolved(cuda_available=False).profile == "cpu"
    assert TrainingSettings().resolved(cuda_available=True).profile == "gpu"
    assert TrainingSettings(profile="cpu").resolved(cuda_available=True).profile == "cpu"
    with pytest.raises(ValueError, match="training profile"):
        resolve_profile("tpu", cuda_available=False)


def test_the_cpu_profile_fills_every_unset_hyperparameter() -> None:
    loop = TrainingSettings().loop_config(cuda_available=False)
    cpu = resolve_profile("cpu", cuda_available=False)
    train = loop.train
    assert (train.epochs, train.batch_size, train.gradient_accumulation_steps) == (
        cpu.epochs, cpu.batch_size, cpu.gradient_accumulation_steps)
    assert train.max_length == 0 and train.max_length_cap == cpu.max_length_cap  # 0: from the data
    assert train.max_train_tokens == cpu.max_train_tokens > 0 and train.precompute_ref_log_probs
    assert loop.gate.batch_size == cpu.gate_batch_size and loop.gate.max_length == cpu.max_length_cap
    assert loop.gate.golden_generate_rows == cpu.golden_generate_rows < \
        TrainingSettings().loop_config(cuda_available=True).gate.golden_generate_rows, "fewer slow answers on a CPU"
    assert TrainingSettings().resolved(cuda_available=False).torch_threads == cpu.torch_threads >= 1
    assert train.gradient_checkpointing and not TrainingSettings().loop_config(cuda_available=True).train \
        .gradient_checkpointing, "activations recomputed on a CPU (memory), kept on a GPU (speed)"


def test_explicit_settings_win_over_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINING_BATCH_SIZE", "4")
    monkeypatch.setenv("TRAINING_MAX_LENGTH", "256")
    monkeypatch.setenv("TRAINING_PRECOMPUTE_REF_LOG_PROBS", "false")
    monkeypatch.setenv("TRAINING_GATE_BATCH_SIZE", "8")
    monkeypatch.setenv("TRAINING_TORCH_THREADS", "1")
    monkeypatch.setenv("TRAINING_GATE_GOLDEN_GENERATE_ROWS", "0")
    settings = TrainingSettings().resolved(cuda_available=False)
    loop = settings.loop_config()
    assert loop.gate.golden_generate_rows == 0, "0 turns the answer check off; it is not 'unset'"
    assert loop.train.batch_size == 4 and loop.train.max_length == 256 and not loop.train.precompute_ref_log_probs
    assert loop.gate.batch_size == 8 and loop.gate.max_length == 256 and settings.torch_threads == 1
    cpu = resolve_profile("cpu", cuda_available=False)
    assert loop.train.gradient_accumulation_steps == cpu.gradient_accumulation_steps  # unset: the profile's


@pytest.mark.parametrize("variable", ["TRAINING_EPOCHS", "TRAINING_MAX_STEPS"])
def test_an_explicit_amount_of_training_is_not_cut_by_the_cpu_token_budget(monkeypatch: pytest.MonkeyPatch,
                                                                          variable: str) -> None:
    monkeypatch.setenv(variable, "3")
    assert TrainingSettings().loop_config(cuda_available=False).train.max_train_tokens == 0
    monkeypatch.setenv("TRAINING_MAX_TRAIN_TOKENS", "500")
    assert TrainingSettings().loop_config(cuda_available=False).train.max_train_tokens == 500


def test_bad_profile_values_still_fail_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINING_BATCH_SIZE", "1")
    with pytest.raises(ValueError, match="`batch_size` must be at least 2"):
        TrainingSettings().loop_config(cuda_available=False)


def test_max_length_is_a_quantile_of_the_rows_lengths_with_headroom_within_bounds() -> None:
    lengths = list(range(1, 101))
    assert max_length_from_lengths(lengths, quantile=0.95, cap=1024) == math.ceil(95 * LENGTH_HEADROOM)
    assert max_length_from_lengths([*[100] * 99, 5000], quantile=0.95, cap=1024) == math.ceil(100 * LENGTH_HEADROOM)
    assert max_length_from_lengths(lengths, quantile=0.95, cap=64) == 64
    assert max_length_from_lengths([3, 4], quantile=0.95, cap=64) == 8
    assert max_length_from_lengths([], quantile=0.95, cap=64) == 64


def test_the_token_budget_keeps_leading_rows_in_whole_steps() -> None:
    assert rows_within_budget([100] * 10, max_tokens=0, multiple=4) == 10
    assert rows_within_budget([100] * 10, max_tokens=1000, multiple=4) == 10  # fits: no row left out
    assert rows_within_budget([100] * 10, max_tokens=750, multiple=4) == 4  # 7 fit, one step of 4
    assert rows_within_budget([100] * 10, max_tokens=50, multiple=4) == 4  # never less than one step
    assert rows_within_budget([100] * 3, max_tokens=50, multiple=4) == 3


def test_the_trainer_takes_max_length_from_the_data_and_applies_the_budget(tiny_base_dir: Path,
                                                                         tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "ds", feedback_items(40))
    tokenizer = AutoTokenizer.from_pretrained(tiny_base_dir)
    lengths = sorted(len(completion_token_ids(tokenizer, row["prompt"], row["completion"])[0])
                     for row in dataset.rows["kto_train"])
    config = replace(FAST_TRAINING, max_length=0, length_quantile=0.5, max_length_cap=1024, batch_size=2,
                     gradient_accumulation_steps=2)
    selection = _rows(dataset, "kto", tokenizer, config)
    assert selection.max_length == math.ceil(lengths[math.ceil(len(lengths) / 2) - 1] * LENGTH_HEADROOM)
    assert selection.too_long == sum(length > selection.max_length for length in lengths)
    kept = [len(completion_token_ids(tokenizer, row["prompt"], row["completion"])[0]) for row in selection.rows]
    budget = sum(kept[:5])  # five rows fit: one optimiser step of 2 × 2 is trained
    budgeted = _rows(dataset, "kto", tokenizer, replace(config, max_train_tokens=budget))
    assert budgeted.rows == selection.rows[:4] and budgeted.over_budget == len(selection.rows) - 4
    assert budgeted.tokens == sum(kept[:4])


def test_reference_log_probs_are_scored_in_training_sized_batches(tmp_path: Path) -> None:
    """TRL's default (8 rows) held two 1.6 GB logit tensors at 1,024 tokens: 7.2 GB peak measured on CPU."""
    config = replace(FAST_TRAINING, batch_size=2, precompute_ref_log_probs=True)
    args = _trainer_args("kto", config, tmp_path / "out", {}, 1024)
    assert args.precompute_ref_batch_size == 2 and args.per_device_eval_batch_size == 2
