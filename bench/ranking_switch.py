"""What a ranking-model deployment costs a running answering process: how long until its answers use
the new model, and what the questions asked meanwhile wait for their evidence.

A tuned model is deployed in the ranking registry (`kbbot train ranking --deploy`); the process's
`RankingFollower` hears the NOTIFY, loads the model off the answering path, warms its question side
and hands it to the answerer. Here, on the quality bench's FAQ knowledge base (var/bench-faq-pg):

* a stand-in "tuned" model: the bundled all-mpnet-base-v2 under another folder name, its question
  side exported to ONNX as a deployment does, and its vectors copied from the bundled model's (the
  bench measures the switch, not what tuning learns: bench/ranking_votes_answers.py does that);
* **no switch (baseline)**: FAQ test paraphrases prepared one after another (search, ranking,
  evidence; no generation; each question was prepared once before, so every passage's unit
  vectors are stored), each one's time to its evidence;
* **during a switch**: `--switches` times, alternately a deployment and a rollback committed while
  the same questions are being prepared on another thread; the seconds from the commit until the
  answerer ranks with the new model, and the time to evidence of every question asked from the
  commit until two questions after the switch.

Run: `python -m bench.ranking_switch [--switches 6]` (after `python -m bench.quality` built the
knowledge base); writes bench/results/ranking_switch.json and its table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from bench.machine import machine_at_end, machine_at_start
from bench.readme_tables import write_result

RESULTS = Path("bench/results/ranking_switch.json")
STAND_IN = "all-mpnet-base-v2-votes-switch-bench"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _spread(seconds: list[float]) -> dict[str, float]:
    return {"n": len(seconds), "p50_ms": round(1000 * statistics.median(seconds), 1),
            "p95_ms": round(1000 * _p95(seconds), 1), "max_ms": round(1000 * max(seconds), 1)}


def _keep_asking(ask: Callable[[], float], asked: list[float], done: threading.Event) -> None:
    """Prepare questions one after another until two more were prepared after `done` was set."""
    after = 0
    while after < 2:
        asked.append(ask())
        if done.is_set():
            after += 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=6, help="deployments and rollbacks [default: %(default)s]")
    parser.add_argument("--baseline", type=int, default=60, help="questions without a switch [default: %(default)s]")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from bench.faq import load_faq
    from bench.quality import faq_knowledge_base
    from bench.question_sets import paraphrases
    from bot.answering import Answerer, AnsweringConfig, Question
    from bot.ranking_follower import RankingFollower
    from knowledge.ranking_model import ensure_query_export, ranking_model_dir
    from store.config import ModelsSettings
    from store.ranking_registry import deploy_ranking_model, rollback_ranking_model
    from tests.scripted_generator import ScriptedGenerator

    machine = machine_at_start()
    sources, _, embedder, sessions = faq_knowledge_base()
    models_dir = ModelsSettings().models_dir
    questions = [asked.text for asked in paraphrases(load_faq(sources), "test")]
    with tempfile.TemporaryDirectory(prefix="ranking-switch-") as scratch:
        stand_in = Path(scratch) / "ranking-tuned" / STAND_IN
        stand_in.parent.mkdir()
        stand_in.symlink_to(ranking_model_dir(models_dir).resolve())
        started = time.perf_counter()
        ensure_query_export(stand_in)
        export_s = time.perf_counter() - started
        with sessions.begin() as session:
            session.execute(text("DELETE FROM ranking_deployments"))
            session.execute(text("DELETE FROM ranking_vectors WHERE model = :name"), {"name": STAND_IN})
            copied = session.execute(text(
                "INSERT INTO ranking_vectors (chunk_id, model, passage, heading, search, scope, computed_at) "
                "SELECT chunk_id, :name, passage, heading, search, scope, now() FROM ranking_vectors "
                "WHERE model = 'all-mpnet-base-v2'"), {"name": STAND_IN}).rowcount  # type: ignore[attr-defined]
        follower = RankingFollower(sessions, setting="", models_dir=models_dir, poll_interval_s=60)
        answerer = Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator("unused"),
                            config=AnsweringConfig(summarise=False))
        follower.serve(answerer.use_ranker)
        counter = iter(range(10**9))

        def ask() -> float:
            question = questions[next(counter) % len(questions)]
            began = time.perf_counter()
            answerer.prepare(Question(text=question))
            return time.perf_counter() - began

        try:
            for _ in questions:
                ask()  # every question once: the embedder, the pool and every passage's unit vectors warm
            baseline = [ask() for _ in range(args.baseline)]
            switch_s: list[float] = []
            during: list[float] = []
            for number in range(args.switches):
                wanted = STAND_IN if number % 2 == 0 else "all-mpnet-base-v2"
                done = threading.Event()
                asked: list[float] = []
                worker = threading.Thread(target=_keep_asking, args=(ask, asked, done))
                worker.start()
                time.sleep(0.2)
                committed = time.perf_counter()
                with sessions.begin() as session:
                    if wanted == STAND_IN:
                        deploy_ranking_model(session, folder=str(stand_in), name=STAND_IN, actor="bench")
                    else:
                        rollback_ranking_model(session, actor="bench")
                while answerer.ranker is None or answerer.ranker.model_name != wanted:
                    time.sleep(0.005)
                switch_s.append(time.perf_counter() - committed)
                done.set()
                worker.join()
                during.extend(asked)
                print(f"switch {number + 1} to {wanted}: {switch_s[-1]:.2f} s, {len(asked)} questions meanwhile")
        finally:
            follower.stop()
            with sessions.begin() as session:
                session.execute(text("DELETE FROM ranking_deployments"))
                session.execute(text("DELETE FROM ranking_vectors WHERE model = :name"), {"name": STAND_IN})
    figures = {"questions": len(questions), "copied_rows": copied, "export_s": round(export_s, 1),
               "switches": args.switches,
               "switch_s": {"p50": round(statistics.median(switch_s), 2), "max": round(max(switch_s), 2),
                            "each": [round(s, 2) for s in switch_s]},
               "evidence": {"no switch (baseline)": _spread(baseline), "during a switch": _spread(during)},
               "embedding_backend": getattr(embedder, "model_name", "?"),
               "machine": machine_at_end(machine)}
    figures["evidence"]["during a switch"]["p50_x_baseline"] = round(
        figures["evidence"]["during a switch"]["p50_ms"] / figures["evidence"]["no switch (baseline)"]["p50_ms"], 2)
    print(write_result("ranking_switch", figures, args.out))


if __name__ == "__main__":
    main()
