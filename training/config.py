"""What a dataset build, a training run and the evaluation gate are allowed to do (pure).

Frozen dataclasses that validate themselves when built, so a bad setting fails at start-up with a
message naming the field and the value instead of deep inside TRL an hour later. Only the entry
point turns environment settings into these; everything else takes them as arguments.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OBJECTIVES = ("auto", "kto", "sft")
ONE_CLASS_POLICIES = ("sft", "skip")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetConfig:
    """How rated answers become a dataset.

    Attributes:
        min_desirable: fewest 👍 training examples a KTO run needs (also the SFT fallback's minimum).
        min_undesirable: fewest 👎 training examples a KTO run needs.
        min_eval_examples: fewest held-out examples the gate needs.
        min_eval_per_class: fewest held-out 👍 and fewest 👎 a KTO run holds out (fewest 👍 for the
            SFT fallback); the split moves more whole threads to eval to reach it, and a run that
            still cannot is skipped. Keep it equal to the gate's `min_per_class`.
        one_class_policy: "sft" trains SFT on 👍 answers and references when 👎 are too few;
            "skip" skips the run instead.
        eval_fraction: share of examples (whole threads, newest first) held out for the gate.
        max_channel_share: when several channels contribute, none keeps more than this share of
            the examples (its oldest go first), except what each class needs to reach its
            minimum counts (train plus held-out): the cap never makes a run skip.
        near_duplicate_threshold: Jaccard similarity of word shingles at or above which two
            same-label examples count as one.
        asker_weight: weight of the asker's own vote when votes on an answer are summed.
        include_private_scopes: let answers from private channels and DMs into the dataset.
        exclude_without_passages: drop answers whose retrieval found nothing (a 👎 there is a
            retrieval miss, not a generation error).
        seed: seed of the shuffle that orders the training rows.
    """

    min_desirable: int = 20
    min_undesirable: int = 20
    min_eval_examples: int = 4
    min_eval_per_class: int = 4
    one_class_policy: str = "sft"
    eval_fraction: float = 0.2
    max_channel_share: float = 0.5
    near_duplicate_threshold: float = 0.9
    asker_weight: int = 2
    include_private_scopes: bool = False
    exclude_without_passages: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("min_desirable", "min_undesirable", "min_eval_examples", "min_eval_per_class"):
            value = getattr(self, name)
            _require(value >= 1, f"`{name}` must be at least 1, got {value}.")
        _require(self.one_class_policy in ONE_CLASS_POLICIES,
                 f"`one_class_policy` must be one of {ONE_CLASS_POLICIES}, got {self.one_class_policy!r}.")
        _require(0.0 < self.eval_fraction < 1.0, f"`eval_fraction` must be in (0, 1), got {self.eval_fraction}.")
        _require(0.0 < self.max_channel_share <= 1.0,
                 f"`max_channel_share` must be in (0, 1], got {self.max_channel_share}.")
        _require(0.0 < self.near_duplicate_threshold <= 1.0,
                 f"`near_duplicate_threshold` must be in (0, 1], got {self.near_duplicate_threshold}.")
        _require(self.asker_weight >= 1, f"`asker_weight` must be at least 1, got {self.asker_weight}.")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """LoRA and optimiser settings of one training run.

    Attributes:
        objective: "auto" follows the dataset (KTO, or SFT when it fell back); "kto" or "sft" force one.
        lora_r, lora_alpha, lora_dropout, target_modules: the LoRA adapter (linear layers only,
            so adapters stay loadable by vLLM and llama.cpp).
        learning_rate: AdamW learning rate (LoRA needs more than full fine-tuning).
        epochs: passes over the training rows; `max_steps` > 0 overrides it.
        max_steps: optimiser steps to train for when > 0 (overriding `epochs`); 0: `epochs` decides.
        batch_size: per-device batch; KTO's KL estimate needs at least 2.
        gradient_accumulation_steps: micro-batches per optimiser step.
        beta: KTO's deviation penalty from the reference (the frozen base).
        max_length: longest prompt+completion in tokens; longer rows are dropped and counted. 0 takes
            it from the data: the `length_quantile` of the training rows' lengths, at most
            `max_length_cap` (a fixed large value only lets a few outliers set the time and memory).
        length_quantile, max_length_cap: how `max_length` 0 is resolved.
        max_train_tokens: train on the leading rows (the builder's shuffled order) that fit this many
            tokens, in whole optimiser steps; 0 trains on all. Bounds a CPU run's time whatever the
            prompts' length.
        precompute_ref_log_probs: KTO scores every row with the frozen reference once before
            training instead of in every step (saves the reference passes of every epoch after the first).
        seed: seeds LoRA initialisation and everything else random in the run.
        gradient_checkpointing: trade compute for memory on large bases.
        cpu_bf16: on a CPU, run forward and backward under bfloat16 autocast (weights and the
            optimiser stay float32). Worth it where the CPU computes in bf16 natively (AVX512-BF16,
            AMX): smaller activations at about float32's CPU time
            (bench/results/train_memory_precision.json). Ignored on a GPU, which uses bf16 whenever
            it supports it.
        progress_bar: show the Trainer's tqdm bar.
    """

    objective: str = "auto"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    learning_rate: float = 5e-5
    epochs: float = 2.0
    max_steps: int = 0
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    beta: float = 0.1
    max_length: int = 1024
    length_quantile: float = 0.95
    max_length_cap: int = 1024
    max_train_tokens: int = 0
    precompute_ref_log_probs: bool = False
    seed: int = 0
    gradient_checkpointing: bool = False
    cpu_bf16: bool = False
    progress_bar: bool = True

    def __post_init__(self) -> None:
        _require(self.objective in OBJECTIVES, f"`objective` must be one of {OBJECTIVES}, got {self.objective!r}.")
        _require(self.lora_r >= 1, f"`lora_r` must be at least 1, got {self.lora_r}.")
        _require(self.lora_alpha >= 1, f"`lora_alpha` must be at least 1, got {self.lora_alpha}.")
        _require(0.0 <= self.lora_dropout < 1.0, f"`lora_dropout` must be in [0, 1), got {self.lora_dropout}.")
        _require(len(self.target_modules) > 0, "`target_modules` must name at least one module.")
        _require("lm_head" not in self.target_modules and "embed_tokens" not in self.target_modules,
                 f"`target_modules` must not adapt embeddings or lm_head, got {self.target_modules}.")
        _require(self.learning_rate > 0, f"`learning_rate` must be positive, got {self.learning_rate}.")
        _require(self.epochs > 0 or self.max_steps > 0,
                 f"`epochs` or `max_steps` must be positive, got {self.epochs} and {self.max_steps}.")
        _require(self.max_steps >= 0, f"`max_steps` must not be negative, got {self.max_steps}.")
        # TRL refuses KTO with a batch of 1: the KL term would equal the implied reward.
        _require(self.batch_size >= 2, f"`batch_size` must be at least 2 (KTO's KL estimate), got {self.batch_size}.")
        _require(self.gradient_accumulation_steps >= 1,
                 f"`gradient_accumulation_steps` must be at least 1, got {self.gradient_accumulation_steps}.")
        _require(self.beta > 0, f"`beta` must be positive, got {self.beta}.")
        _require(self.max_length == 0 or self.max_length >= 8,
                 f"`max_length` must be 0 (from the data) or at least 8, got {self.max_length}.")
        _require(0.5 <= self.length_quantile <= 1.0,
                 f"`length_quantile` must be in [0.5, 1], got {self.length_quantile}.")
        _require(self.max_length_cap >= 8, f"`max_length_cap` must be at least 8, got {self.max_length_cap}.")
        _require(self.max_train_tokens >= 0, f"`max_train_tokens` must not be negative, got {self.max_train_tokens}.")

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["target_modules"] = list(self.target_modules)
        return values


@dataclass(frozen=True, slots=True, kw_only=True)
class GateConfig:
    """Rules of the evaluation gate (log-likelihoods are mean nats per completion token).

    Attributes:
        min_per_class: fewest held-out 👍 and fewest 👎 rows the gate decides on (👍 alone when
            no 👎 is held out); below it the candidate is rejected, whatever it measured.
        min_margin_gain: the lower confidence bound of the gain in held-out reward margin (mean
            log-likelihood of 👍 minus 👎 completions, candidate minus serving model) must exceed
            this, and zero. 0.01 nats per token: over a 100-token answer the candidate then
            prefers good to bad answers e^1 ≈ 2.7 times more than the serving model does; smaller
            gains are within what a retrain on the same data moves by chance.
        bootstrap_resamples, confidence, seed: the paired bootstrap over held-out rows giving that
            bound (`training.bootstrap`): 1000 seeded resamples, a 95% one-sided bound.
        good_tolerance: the candidate may lose at most this much log-likelihood on held-out 👍
            completions (and on the golden set's reference answers) against the serving model.
        golden_generate_rows: golden-set rows answered greedily by both models for the answer-level
            check (0 turns it off); generation is the slow part of the gate on a CPU.
        golden_max_new_tokens: length cap of those answers.
        golden_f1_tolerance: the candidate's mean token F1 against the reference answers may fall
            by at most this much.
        general_tolerance: the candidate's perplexity on general English may exceed the base
            model's by at most this fraction.
        max_length: longest scored sequence in tokens.
        batch_size: sequences scored per forward pass.
    """

    min_per_class: int = 4
    min_margin_gain: float = 0.01
    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    good_tolerance: float = 0.05
    golden_generate_rows: int = 8
    golden_max_new_tokens: int = 64
    golden_f1_tolerance: float = 0.05
    general_tolerance: float = 0.05
    max_length: int = 1024
    batch_size: int = 8

    def __post_init__(self) -> None:
        _require(self.min_per_class >= 1, f"`min_per_class` must be at least 1, got {self.min_per_class}.")
        _require(self.min_margin_gain >= 0, f"`min_margin_gain` must not be negative, got {self.min_margin_gain}.")
        _require(self.bootstrap_resamples >= 100,
                 f"`bootstrap_resamples` must be at least 100, got {self.bootstrap_resamples}.")
        _require(0.5 <= self.confidence < 1.0, f"`confidence` must be in [0.5, 1), got {self.confidence}.")
        _require(self.good_tolerance >= 0, f"`good_tolerance` must not be negative, got {self.good_tolerance}.")
        _require(self.golden_generate_rows >= 0,
                 f"`golden_generate_rows` must not be negative, got {self.golden_generate_rows}.")
        _require(self.golden_max_new_tokens >= 1,
                 f"`golden_max_new_tokens` must be at least 1, got {self.golden_max_new_tokens}.")
        _require(self.golden_f1_tolerance >= 0,
                 f"`golden_f1_tolerance` must not be negative, got {self.golden_f1_tolerance}.")
        _require(self.general_tolerance >= 0,
                 f"`general_tolerance` must not be negative, got {self.general_tolerance}.")
        _require(self.max_length >= 8, f"`max_length` must be at least 8, got {self.max_length}.")
        _require(self.batch_size >= 1, f"`batch_size` must be at least 1, got {self.batch_size}.")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopConfig:
    """Everything one pipeline run needs to know besides where things live."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    gate: GateConfig = field(default_factory=GateConfig)
