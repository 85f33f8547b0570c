"""How long `--help` takes: the `kbbot` console script against the eager imports the CLIs used to do.

Each command runs in a fresh interpreter (`python -m kbbot …`, the console script's code), `--repeats`
times; the figures are wall-clock seconds (median and best), measured in the same run as two
baselines: the `python -m training --help` alias as it is now, and the same help preceded by the
imports the training CLI did at start before it went lazy (commit dffb992: its settings imported
the pipeline, hence torch, transformers and TRL; plus SQLAlchemy and the stores). The issue's
target is < 1 s for `kbbot --help` and every subcommand's help.

Run from the repository root: `python -m bench.cli_startup [--repeats 5]`. Writes
bench/results/cli_startup.json and the Markdown table bench/results/cli_startup.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path("bench/results/cli_startup.json")
TABLE = Path("bench/results/cli_startup.md")
TARGET_S = 1.0

EAGER_IMPORTS = ("import knowledge.settings, store.adapter_registry, store.database, store.datasets_store, "
                 "store.training_runs, training.pipeline")
"""The module-level imports of the training CLI before it imported lazily (dffb992)."""

COMMANDS: dict[str, list[str]] = {
    "kbbot --help": ["-m", "kbbot", "--help"],
    "kbbot kb --help": ["-m", "kbbot", "kb", "--help"],
    "kbbot kb add --help": ["-m", "kbbot", "kb", "add", "--help"],
    "kbbot ask --help": ["-m", "kbbot", "ask", "--help"],
    "kbbot slack web --help": ["-m", "kbbot", "slack", "web", "--help"],
    "kbbot train --help": ["-m", "kbbot", "train", "--help"],
    "kbbot train worker --help": ["-m", "kbbot", "train", "worker", "--help"],
    "kbbot config --help": ["-m", "kbbot", "config", "--help"],
    "baseline: python -m training --help (now)": ["-m", "training", "--help"],
    "baseline: training --help with its former eager imports": [
        "-c", f"{EAGER_IMPORTS}\nfrom training.__main__ import cli\ncli(['--help'], prog_name='python -m training')"],
}


def _time(arguments: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *arguments], check=True, capture_output=True)
    return time.perf_counter() - started


def measure(repeats: int) -> dict[str, dict[str, float]]:
    """Median and best wall seconds per command; the commands take turns, so load drifts hit them alike."""
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for arguments in COMMANDS.values():
        _time(arguments)  # warm the file cache and the bytecode once, as a second invocation would find them
    for _ in range(repeats):
        for name, arguments in COMMANDS.items():
            samples[name].append(_time(arguments))
    return {name: {"median_s": round(statistics.median(times), 3), "best_s": round(min(times), 3)}
            for name, times in samples.items()}


def markdown(figures: dict[str, dict[str, float]]) -> str:
    rows = ["| command | median s | best s |", "|---|---|---|"]
    rows += [f"| `{name}` | {values['median_s']:.2f} | {values['best_s']:.2f} |" for name, values in figures.items()]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command [default: 5]")
    args = parser.parse_args()
    figures = measure(args.repeats)
    kbbot = {name: values for name, values in figures.items() if name.startswith("kbbot")}
    eager = figures["baseline: training --help with its former eager imports"]["median_s"]
    slowest = max(values["median_s"] for values in kbbot.values())
    result = {"repeats": args.repeats, "python": platform.python_version(), "target_s": TARGET_S,
              "commands": figures, "slowest_kbbot_median_s": slowest, "all_within_target": slowest < TARGET_S,
              "speedup_vs_eager_imports": round(eager / slowest, 1)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    TABLE.write_text(markdown(figures))
    print(markdown(figures))
    print(f"slowest kbbot help {slowest:.2f} s (target < {TARGET_S} s); the former eager imports took {eager:.2f} s")


if __name__ == "__main__":
    main()
