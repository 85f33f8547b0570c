"""Training profiles: the hyper-parameter defaults that make a run fit the hardware it runs on (pure).

A LoRA/KTO run on 2 CPU cores and one on a GPU want different settings. On a CPU the cost is the
number of tokens pushed through the model (each KTO step runs four passes: policy and reference,
on the rows and on the KL mismatched pairs), so the CPU profile trains one epoch, caps the tokens
trained, and keeps micro-batches small so memory stays bounded; on a GPU the passes are cheap and
the profile trains longer on bigger batches. Both take the sequence length from the data instead of
a fixed large value, and precompute the reference log-probabilities once (the frozen base scores
every row a single time instead of once per epoch). The profile only fills in what the environment
leaves unset: any explicit TRAINING_* value wins (see `training.settings`).

Figures behind the choices: `bench/train_learning.py --profile cpu` (README, "Learning").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.cpu_arithmetic import cpu_computes_bf16, usable_cpus

PROFILE_NAMES = ("auto", "cpu", "gpu")


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Defaults of one kind of hardware.

    Attributes:
        name: "cpu" or "gpu".
        epochs: passes over the training rows.
        batch_size, gradient_accumulation_steps: micro-batch (≥ 2 for KTO's KL estimate) and how
            many make one optimiser step; on a CPU small micro-batches bound peak memory and cost
            no speed (the work is per token, and less padding is wasted).
        length_quantile, max_length_cap: `max_length` becomes this quantile of the training rows'
            token lengths (with `LENGTH_HEADROOM`), at most the cap: outliers cost the most (each
            batch pads to its longest row) and would set the peak memory alone.
        max_train_tokens: the run trains on the first rows (in the builder's shuffled order) that
            fit this many tokens per epoch; 0 trains on all of them.
        precompute_ref_log_probs: score every row with the frozen base once before training
            (TRL KTO), not in every step of every epoch: saves both reference passes of every
            epoch after the first; within one epoch it measured ~13% slower on a CPU (README).
        gate_batch_size: sequences the gate scores per forward pass (its logits are batch ×
            length × vocabulary floats, the run's largest tensor on a CPU).
        golden_generate_rows: golden-set rows the gate answers greedily with both models (only when
            the likelihood rules passed): on a CPU each answer reads a product-length prompt and
            generates up to 64 tokens, about 17 s a row for the two models on 2 cores (the gate of
            bench/results/run_cost.json against the learning curve's judged run), so the CPU profile
            answers 4.
        torch_threads: CPU threads for torch; 0 leaves torch's default (the CPU profile leaves a core
            to the bot).
        gradient_checkpointing: recompute activations in the backward pass instead of keeping them
            (bench/train_memory.py, same run on product-length prompts: peak 4,656 MiB against 7,251, CPU time +9%).
        cpu_bf16: bfloat16 autocast on a CPU that computes in bf16 natively (`cpu_computes_bf16`).
    """

    name: str
    epochs: float
    batch_size: int
    gradient_accumulation_steps: int
    length_quantile: float
    max_length_cap: int
    max_train_tokens: int
    precompute_ref_log_probs: bool
    gate_batch_size: int
    golden_generate_rows: int
    torch_threads: int
    gradient_checkpointing: bool
    cpu_bf16: bool


def _training_threads() -> int:
    """All CPUs this process may run on (its affinity, not the host's count) but one, and at least one.

    The worker shares the machine with the bot, which generates on one thread: an OpenMP thread of
    training on a busy core spins and makes every step 2-3× slower (tests/training/conftest.py).
    """
    return max(1, usable_cpus() - 1)


def cpu_profile() -> Profile:
    return Profile(name="cpu", epochs=1.0, batch_size=2, gradient_accumulation_steps=2, length_quantile=0.95,
                   max_length_cap=1024, max_train_tokens=24_000, precompute_ref_log_probs=True, gate_batch_size=2,
                   golden_generate_rows=4, torch_threads=_training_threads(), gradient_checkpointing=True,
                   cpu_bf16=cpu_computes_bf16())


def gpu_profile() -> Profile:
    return Profile(name="gpu", epochs=2.0, batch_size=8, gradient_accumulation_steps=1, length_quantile=0.99,
                   max_length_cap=2048, max_train_tokens=0, precompute_ref_log_probs=True, gate_batch_size=16,
                   golden_generate_rows=8, torch_threads=0, gradient_checkpointing=False, cpu_bf16=False)


def resolve_profile(name: str, *, cuda_available: bool) -> Profile:
    """The profile called `name`; "auto" is the GPU profile when CUDA is available, else the CPU one."""
    if name not in PROFILE_NAMES:
        raise ValueError(f"training profile must be one of {PROFILE_NAMES}, got {name!r}")
    if name == "auto":
        name = "gpu" if cuda_available else "cpu"
    return gpu_profile() if name == "gpu" else cpu_profile()


LENGTH_HEADROOM = 1.25
"""Rows up to this much longer than the quantile still train: only outliers (a pasted log) are dropped."""


def max_length_from_lengths(lengths: Sequence[int], *, quantile: float, cap: int, floor: int = 8) -> int:
    """`LENGTH_HEADROOM` × the `quantile` of the rows' token lengths (nearest rank), within [floor, cap].

    A row far longer than nearly all others sets its batch's padding, time and peak memory alone;
    one a little longer is ordinary feedback and keeps its place.
    """
    if not lengths:
        return cap
    ordered = sorted(lengths)
    rank = max(1, math.ceil(quantile * len(ordered)))
    return max(floor, min(cap, math.ceil(ordered[rank - 1] * LENGTH_HEADROOM)))


def rows_within_budget(lengths: Sequence[int], *, max_tokens: int, multiple: int) -> int:
    """How many leading rows to train on: all when they fit `max_tokens` (or it is 0), else whole optimiser steps.

    Never fewer than one step's rows (`multiple`), so a run with long rows still trains.
    """
    if max_tokens <= 0 or sum(lengths) <= max_tokens:
        return len(lengths)
    total, count = 0, 0
    for length in lengths:
        if total + length > max_tokens:
            break
        total += length
        count += 1
    count -= count % multiple
    return min(len(lengths), max(count, multiple))
