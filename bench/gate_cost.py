"""CPU time and peak memory of the gate's scoring: LM head at scored positions only, against full logits, one run.

The gate scores every held-out row with the base and the candidate (mean log-probability of the
completion tokens). It used to project every position of every sequence through the 49k-word LM
head and log-softmax the lot (batch × ~1,000 × 49,152 floats per forward on product-length
prompts); `training.scoring.ScoringModel` now applies the head only at the positions that predict a
completion token. This bench scores the same rows of a real dataset both ways, each in its own child
process (smaller expected footprint first: `ru_maxrss` of children is the largest so far), and
checks that the scores agree.

Run: `python -m bench.gate_cost [--dataset DIR] [--rows 12]`; figures go to bench/results/gate_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

RESULTS = Path("bench/results/gate_cost.json")
VARIANTS = ("scored positions only", "full logits (before)")


def _rows(dataset: Path, count: int) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (dataset / "kto_eval.jsonl").read_text().splitlines() if line.strip()]
    return [(row["prompt"], row["completion"]) for row in rows[:count]]


def _child(variant: str, dataset: Path, count: int) -> None:
    """Score the rows with the base model the way `variant` says; print the scores as JSON."""
    import torch

    from bot.model_setup import default_model_dir
    from training.profiles import cpu_profile
    from training.scoring import BASE, ScoringModel, completion_token_ids

    torch.set_num_threads(cpu_profile().torch_threads)
    model = ScoringModel(default_model_dir(Path("var/models")), {})
    pairs = _rows(dataset, count)
    batch_size = cpu_profile().gate_batch_size
    with model.using(BASE):
        if variant == VARIANTS[0]:
            scores = model.completion_logprobs(pairs, max_length=1024, batch_size=batch_size)
        else:  # the former implementation, kept here as the baseline
            scores = []
            with torch.no_grad():
                for offset in range(0, len(pairs), batch_size):
                    chunk = pairs[offset : offset + batch_size]
                    batch = [completion_token_ids(model.tokenizer, p, c) for p, c in chunk]
                    batch = [(ids[max(0, len(ids) - 1024):], max(1, start - max(0, len(ids) - 1024)))
                             for ids, start in batch]
                    width = max(len(ids) for ids, _ in batch)
                    input_ids = torch.full((len(batch), width), model.tokenizer.pad_token_id, dtype=torch.long)
                    attention = torch.zeros((len(batch), width), dtype=torch.long)
                    for row, (ids, _) in enumerate(batch):
                        input_ids[row, : len(ids)] = torch.tensor(ids)
                        attention[row, : len(ids)] = 1
                    logits = model.model(input_ids=input_ids, attention_mask=attention).logits.float()
                    logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
                    token_logprobs = logprobs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
                    for row, (ids, start) in enumerate(batch):
                        scores.append(float(token_logprobs[row, start - 1 : len(ids) - 1].mean()))
    tokens = sum(len(model.tokenizer(text=p + c)["input_ids"]) for p, c in pairs)
    print(json.dumps({"scores": scores, "tokens": tokens}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=None, help="a dataset folder (default: the newest bench one)")
    parser.add_argument("--rows", type=int, default=12, help="held-out rows scored by each variant")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    from bench.train_memory import newest_dataset

    dataset = arguments.dataset or newest_dataset()
    if arguments.child:
        _child(arguments.child, dataset, arguments.rows)
        return
    from bench.training_child import run_module_child

    figures: dict[str, Any] = {}
    scores: dict[str, list[float]] = {}
    for variant in VARIANTS:
        child = run_module_child("bench.gate_cost", ["--dataset", str(dataset), "--rows", str(arguments.rows),
                                                     "--child", variant], os.environ)
        if child.returncode != 0 or child.output is None:
            raise SystemExit(f"{variant} failed ({child.returncode}): {child.stderr[-2000:]}")
        scores[variant] = child.output["scores"]
        figures[variant] = {"peak_rss_mib": child.peak_rss_mib, "cpu_seconds": round(child.cpu_seconds, 1),
                            "wall_s": round(child.wall_s, 1), "tokens": child.output["tokens"]}
        print(f"{variant}: {figures[variant]}", file=sys.stderr)
    now, before = (figures[v] for v in VARIANTS)
    result = {"dataset": str(dataset), "rows": arguments.rows, "variants": figures,
              "max_score_difference": max(abs(a - b) for a, b in zip(*scores.values(), strict=True)),
              "cpu_seconds_ratio": round(before["cpu_seconds"] / now["cpu_seconds"], 2),
              "peak_rss_ratio": round(before["peak_rss_mib"] / now["peak_rss_mib"], 2),
              "loadavg": os.getloadavg()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
