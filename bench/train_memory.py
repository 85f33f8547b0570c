"""Peak memory and CPU time of training on product-length prompts, per setting, in one run.

The learning-curve bench measured the cpu profile's first real run (prompts quoting three passages,
~800 tokens each) at ~7 GB peak RSS, above the 4 GB the CPU profile promises. This bench trains the
same dataset in a child process per setting (`python -m training train`, as the worker would); a
token budget keeps each to the leading rows that fit, in whole optimiser steps, and the reference
log-probs are computed for those rows only. Reported per child: peak RSS
(`resource.getrusage(RUSAGE_CHILDREN)`; children run from the smallest expected footprint up, so
each figure is that child's own peak), CPU seconds (user + system: what the run costs whatever
else shares the cores), wall time and the trainer's tokens/s.

Run: `python -m bench.train_memory [--dataset DIR] [--tokens 7000]`; the default dataset is the
newest one the learning-curve bench wrote (var/bench-learning-curve/datasets). Figures go to
bench/results/train_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

RESULTS = Path("bench/results/train_memory.json")
DATASETS = Path("var/bench-learning-curve/datasets")
VARIANTS: dict[str, dict[str, str]] = {
    "cpu profile (bf16 autocast, checkpointing, freed memory returned)": {
        "TRAINING_CPU_BF16": "true", "TRAINING_GRADIENT_CHECKPOINTING": "true",
        "TRAINING_RELEASE_FREED_MEMORY": "true"},
    "bf16 autocast, checkpointing, glibc's default heap (before)": {
        "TRAINING_CPU_BF16": "true", "TRAINING_GRADIENT_CHECKPOINTING": "true",
        "TRAINING_RELEASE_FREED_MEMORY": "false"},
    "float32, checkpointing, glibc's default heap": {
        "TRAINING_CPU_BF16": "false", "TRAINING_GRADIENT_CHECKPOINTING": "true",
        "TRAINING_RELEASE_FREED_MEMORY": "false"},
}
"""Smallest expected footprint first: ru_maxrss of children is the largest so far, so smaller runs come first."""


def newest_dataset(root: Path = DATASETS) -> Path:
    folders = sorted((path for path in root.glob("ds-*") if path.is_dir()), key=lambda path: path.stat().st_mtime)
    if not folders:
        raise SystemExit(f"no dataset under {root}: run `python -m bench.learning_curve` first or pass --dataset")
    return folders[-1]


def train_child(dataset: Path, tokens: int, variables: dict[str, str]) -> dict[str, Any]:
    """One `python -m training train` child: its figures and the trainer's metrics."""
    from bench.training_child import run_training_cli
    from bot.model_setup import default_model_dir

    output = Path(tempfile.mkdtemp(prefix="train-memory-")) / "adapter"
    environment = {**os.environ, "TRAINING_PROFILE": "cpu", "TRAINING_MAX_TRAIN_TOKENS": str(tokens),
                   "TRAINING_PROGRESS_BAR": "false", "TRAINING_TORCH_THREADS": "2",
                   "TRAINING_BASE_MODEL": str(default_model_dir(Path("var/models"))), **variables}
    child = run_training_cli(["train", "--dataset", str(dataset), "--no-register", "--output", str(output)],
                             environment)
    if child.returncode != 0 or child.output is None:
        raise RuntimeError(f"training failed ({child.returncode}): {child.stderr[-2000:]}")
    payload = child.output
    metrics = payload["metrics"]
    return {"peak_rss_mib": child.peak_rss_mib, "wall_s": round(child.wall_s, 1),
            "cpu_seconds": round(child.cpu_seconds, 1),
            "steps": metrics.get("steps"), "rows": metrics.get("rows"), "max_length": metrics.get("max_length"),
            "train_tokens": metrics.get("train_tokens"), "tokens_per_s": metrics.get("tokens_per_s"),
            "runtime_s": metrics.get("runtime_s")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="dataset folder (default: the learning-curve bench's newest)")
    parser.add_argument("--tokens", type=int, default=7000,
                        help="token budget per setting (the leading rows that fit, in whole optimiser steps)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="settings to measure (default: all, the baseline last)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    dataset = args.dataset or newest_dataset()
    results: dict[str, Any] = {"dataset": str(dataset), "token_budget": args.tokens, "machine": {
        "cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}, "variants": {}}
    for name in args.variants:
        variables = VARIANTS[name]
        figures = train_child(dataset, args.tokens, variables)
        results["variants"][name] = {"environment": variables, **figures}
        print(f"{name}: {figures}", flush=True)
    results["machine"]["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
