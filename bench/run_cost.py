"""Time and memory of one default CPU training run on ≥ 200 judged answers, down the gate's slowest path.

The learning curve (bench/learning_curve.py) measures the default run as it happens: on its data the
gate rejects the candidate on the reward-margin rule, and since generating golden-set answers can
only add a reason to reject, a rejected run never generates them. A run whose candidate passes the
likelihood rules also answers the golden set with both models. This bench measures that path: the
learning curve's simulated team (the same questions, judge and corrections) votes in the bench
database, then one run of the real pipeline (`python -m training run-once` in a child process, the
`cpu` profile and every other default) with one setting changed, `TRAINING_GATE_MIN_MARGIN_GAIN=0`,
so the candidate's positive lower bound clears the margin rule and the gate goes on to the golden set.

DESTRUCTIVE for the bench database only, like the learning curve (answers, votes, runs, adapters).
Run: `python -m bench.run_cost [--pg-data-dir var/bench-quality-pg]`; writes bench/results/run_cost.json
(and its table, rendered by bench/readme_tables.py, beside it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from bench.learning_curve import (
    SETTINGS_OVERRIDES,
    WORK,
    clear_feedback,
    judge_votes,
    record_feedback,
    retrain,
    simulate_team,
    training_environment,
)
from bench.machine import machine_at_end, machine_at_start
from bench.readme_tables import write_result

RESULTS = Path("bench/results/run_cost.json")
FORCED = {"gate_min_margin_gain": 0.0}
"""The one setting changed from the learning curve's run: any positive lower bound passes the margin rule."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-data-dir", type=Path, default=Path("var/bench-quality-pg"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import torch

    from bench.faq import load_faq
    from bench.quality import _generator, ensure_doc_sources
    from bench.question_sets import paraphrases, team_questions
    from bot.answering import Answerer, AnsweringConfig
    from knowledge.embedding import SentenceTransformerEmbedder
    from store.database import make_engine, make_session_factory, resolve_database_url
    from store.migrate import upgrade
    from training.settings import TrainingSettings

    machine = machine_at_start()
    overrides = {**SETTINGS_OVERRIDES, **FORCED}
    settings = TrainingSettings(data_dir=WORK, **overrides).resolved(cuda_available=False)
    torch.set_num_threads(settings.torch_threads or 2)
    shutil.rmtree(WORK, ignore_errors=True)
    url = resolve_database_url(os.environ.get("BENCH_DATABASE_URL"), args.pg_data_dir)
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    clear_feedback(engine)
    items = load_faq(ensure_doc_sources())
    team = Answerer(sessions=sessions, embedder=SentenceTransformerEmbedder(), generator=_generator(),
                    config=AnsweringConfig(summarise=False))
    rows = simulate_team(sessions, team, paraphrases(items, "dev") + team_questions(items))
    threshold = judge_votes(rows)
    voted = [row for row in rows if "vote" in row]
    feedback = record_feedback(sessions, voted, [row["vote"] for row in voted], corrections=True)
    print(f"team: {len(voted)} answered, F1 threshold {threshold:.3f}, {feedback}", flush=True)
    started = time.perf_counter()
    run = retrain(engine, sessions, settings, training_environment(url, overrides), "forced-pass")
    result: dict[str, Any] = {
        "changed_setting": {f"TRAINING_{key.upper()}": value for key, value in FORCED.items()},
        "profile": settings.profile, "golden_generate_rows": settings.value("gate_golden_generate_rows"),
        "torch_threads": settings.torch_threads, "votes": feedback, "answers_judged": len(voted),
        "run": run, "wall_s_with_database_reads": round(time.perf_counter() - started, 1),
        "machine": machine_at_end(machine)}
    write_result("run_cost", result, args.out)
    engine.dispose()
    print(json.dumps(run, indent=2, ensure_ascii=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
