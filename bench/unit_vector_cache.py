"""Time to the quoted evidence with passages' unit vectors embedded per question, stored, and read back.

On the quality bench's FAQ knowledge base (bench/quality.py, var/bench-faq-pg) with the answering
embedder `auto` picks on this machine, each test paraphrase is prepared (`Answerer.prepare`: search,
abstention, unit scores, evidence; no model call) three ways, interleaved question by question so
the shared cores' load falls on all alike:

* **embedded every question (before)**: `KB_ANSWER_UNIT_VECTOR_CACHE=false`, what every question
  paid before revision 0017;
* **first read (stored)**: the cache on and the `unit_vectors` table emptied just before, so the
  question embeds its passages' units and stores them;
* **read back**: the same question again, its passages' unit vectors read from the table;

then the last two again with the re-ranking off (`KB_RERANK_DEPTH=0`: only the passages the evidence
and the prompt read get their units scored, as before the re-ranking scored the top 10's).

Per way: median and p95 wall milliseconds of `prepare`, median CPU milliseconds of this process
(all its threads: ONNX Runtime's too), and the ratio of the median to the baseline's; then the
table's size per stored chunk and per unit once every question's passages are stored.
Run: `python -m bench.unit_vector_cache [--questions 40]`; writes bench/results/unit_vector_cache.json and its table
(bench/readme_tables.py).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.machine import machine_at_end, machine_at_start
from bench.readme_tables import write_result

RESULTS = Path("bench/results/unit_vector_cache.json")
WAYS = ("embedded every question (before)", "first read (stored)", "read back")
SEARCH_ORDER_WAYS = ("first read, search order (before the re-ranking)",
                     "read back, search order (before the re-ranking)")
"""The re-ranking off: what the evidence cost before it scored the top 10 passages' units."""


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=40, help="test paraphrases prepared [default: %(default)s]")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from bench.faq import load_faq
    from bench.quality import faq_knowledge_base, spread
    from bench.question_sets import paraphrases
    from bot.answering import Answerer, AnsweringConfig, Question
    from bot.generation import TransformersGenerator
    from bot.model_setup import ensure_default_model
    from bot.reranking import RerankConfig

    machine = machine_at_start()
    sources, backend, embedder, sessions = faq_knowledge_base()
    generator = TransformersGenerator(ensure_default_model(Path("var/models")))  # prompts only: no model call
    answerers = {
        WAYS[0]: Answerer(sessions=sessions, embedder=embedder, generator=generator,
                          config=AnsweringConfig(summarise=False, unit_vector_cache=False)),
        WAYS[1]: Answerer(sessions=sessions, embedder=embedder, generator=generator,
                          config=AnsweringConfig(summarise=False)),
    }
    answerers[WAYS[2]] = answerers[WAYS[1]]
    answerers[SEARCH_ORDER_WAYS[0]] = Answerer(sessions=sessions, embedder=embedder, generator=generator,
                                               config=AnsweringConfig(summarise=False, rerank=RerankConfig(depth=0)))
    answerers[SEARCH_ORDER_WAYS[1]] = answerers[SEARCH_ORDER_WAYS[0]]
    questions = spread(paraphrases(load_faq(sources), "test"), args.questions)

    def forget() -> None:  # TRUNCATE, not DELETE: the table's size below must not count forty rounds of dead rows
        with sessions() as session, session.begin():
            session.execute(text("TRUNCATE unit_vectors"))

    def prepare(way: str, asked: str) -> tuple[float, float, str]:
        wall, cpu = time.perf_counter(), time.process_time()
        prepared = answerers[way].prepare(Question(text=asked))
        return ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000,
                prepared.outcome.published if prepared.outcome else "")

    prepare(WAYS[0], questions[0].text)  # warm the embedder and the connection pool
    samples: dict[str, list[tuple[float, float]]] = {way: [] for way in (*WAYS, *SEARCH_ORDER_WAYS)}
    same_evidence = reordered = 0
    for asked in questions:
        before = prepare(WAYS[0], asked.text)
        forget()
        cold = prepare(WAYS[1], asked.text)
        warm = prepare(WAYS[2], asked.text)
        forget()
        search_cold = prepare(SEARCH_ORDER_WAYS[0], asked.text)
        search_warm = prepare(SEARCH_ORDER_WAYS[1], asked.text)
        for way, (wall_ms, cpu_ms, _) in zip((*WAYS, *SEARCH_ORDER_WAYS),
                                             (before, cold, warm, search_cold, search_warm), strict=True):
            samples[way].append((wall_ms, cpu_ms))
        same_evidence += before[2] == cold[2] == warm[2]
        reordered += warm[2] != search_warm[2]
    forget()
    for asked in questions:  # every question's passages stored once: what the table holds for them
        prepare(WAYS[1], asked.text)
    with sessions() as session:
        rows, units, size = session.execute(text(
            "SELECT count(*), coalesce(sum(count), 0), pg_total_relation_size('unit_vectors') FROM unit_vectors")).one()
    baseline = statistics.median(wall for wall, _ in samples[WAYS[0]])
    figures: dict[str, Any] = {
        "corpus": "faq", "embedding_backend": backend, "questions": len(questions),
        "same_evidence_all_ways": same_evidence,
        "evidence_changed_by_the_reranking": reordered,
        "ways": {way: {"wall_ms_p50": round(statistics.median(w for w, _ in values), 1),
                       "wall_ms_p95": round(_percentile([w for w, _ in values], 0.95), 1),
                       "cpu_ms_p50": round(statistics.median(c for _, c in values), 1),
                       "x_baseline": round(statistics.median(w for w, _ in values) / baseline, 2)}
                 for way, values in samples.items()},
        "stored_for_all_questions": {"chunks": rows, "units": int(units), "table_bytes": int(size)},
        "machine": machine_at_end(machine),
    }
    for way, row in figures["ways"].items():
        print(f"{way:>34}: p50 {row['wall_ms_p50']} ms (p95 {row['wall_ms_p95']}), CPU {row['cpu_ms_p50']} ms, "
              f"×{row['x_baseline']}")
    print(f"wrote {write_result('unit_vector_cache', figures, args.out)}")


if __name__ == "__main__":
    main()
