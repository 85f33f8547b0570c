"""A first wave of questions over passages nobody has read yet: units embedded once, or once per question?

When a knowledge base is new (or its unit vectors were emptied), the first questions that arrive
together retrieve overlapping passages, and before single-flight each embedded every passage's units
itself. Here one process's Slack workers (`KB_SLACK_WORKERS`, 4) take a wave of FAQ test paraphrases
at once through `Answerer.prepare` (search, re-ranking, unit scores, evidence; no model call) on the
quality bench's FAQ knowledge base (var/bench-faq-pg), with the `unit_vectors` table emptied before
each wave, two ways, alternating which goes first each round:

* **each question embeds (before)**: `UnitVectorCache(single_flight=False)`;
* **single-flight**: the shipped cache; a passage another question is embedding is waited for.

Per way: units embedded per wave, the median and p95 seconds from the wave's start to each
question's evidence, the wave's wall time, and this process's CPU seconds per wave (all threads).

Run: `python -m bench.unit_vector_herd [--rounds 5] [--wave 12]`; writes
bench/results/unit_vector_herd.json and its table (bench/readme_tables.py).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.machine import machine_at_end, machine_at_start
from bench.readme_tables import write_result

RESULTS = Path("bench/results/unit_vector_herd.json")
WAYS = {"each question embeds (before)": False, "single-flight": True}
"""Way name → `single_flight`."""
WORKERS = 4
"""Questions prepared at once: one process's `KB_SLACK_WORKERS` default."""


class CountingEmbedder:
    """The answering embedder, counting the texts its `embed_documents` embeds (the passages' units)."""

    def __init__(self, embedder: Any) -> None:
        self._embedder = embedder
        self.model_name = getattr(embedder, "model_name", type(embedder).__name__)
        self.documents = 0
        self._lock = threading.Lock()

    def embed_query(self, text: str) -> list[float]:
        return self._embedder.embed_query(text)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            self.documents += len(texts)
        return self._embedder.embed_documents(texts)


def run_wave(answerer: Any, questions: Sequence[str], workers: int = WORKERS) -> tuple[list[float], float, float]:
    """Prepare `questions` on `workers` threads: seconds from the start to each evidence, wall, CPU seconds."""
    from bot.answering import Question

    queue, lock, done = list(questions), threading.Lock(), []
    failures: list[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                asked = queue.pop(0)
            try:
                answerer.prepare(Question(text=asked))
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after the wave
                failures.append(exc)
            done.append(time.perf_counter() - started)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return done, time.perf_counter() - started, time.process_time() - cpu


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="waves per way [default: %(default)s]")
    parser.add_argument("--wave", type=int, default=12, help="questions per wave [default: %(default)s]")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from bench.faq import load_faq
    from bench.quality import faq_knowledge_base
    from bench.question_sets import paraphrases
    from bot.answering import Answerer, AnsweringConfig
    from bot.unit_vector_cache import UnitVectorCache
    from tests.scripted_generator import ScriptedGenerator

    machine = machine_at_start()
    sources, backend, embedder, sessions = faq_knowledge_base(CountingEmbedder)
    answerers = {}
    for way, single_flight in WAYS.items():
        answerer = Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator("unused"),
                            config=AnsweringConfig(summarise=False))
        answerer._unit_vectors = UnitVectorCache(  # noqa: SLF001 - the way under test
            sessions, embedder.embed_documents, embedder.model_name, single_flight=single_flight)
        answerers[way] = answerer
    questions = [asked.text for asked in paraphrases(load_faq(sources), "test")]
    run_wave(answerers["single-flight"], questions[:2], workers=1)  # warm the embedder and the pool

    samples: dict[str, list[dict[str, Any]]] = {way: [] for way in WAYS}
    for round_ in range(args.rounds):
        wave = [questions[(round_ * args.wave + n) % len(questions)] for n in range(args.wave)]
        for way in (list(WAYS) if round_ % 2 == 0 else list(reversed(WAYS))):
            with sessions() as session, session.begin():
                session.execute(text("TRUNCATE unit_vectors"))
            embedded_before = embedder.documents
            done, wall, cpu = run_wave(answerers[way], wave)
            samples[way].append({"units": embedder.documents - embedded_before, "evidence_s": done,
                                 "wall_s": wall, "cpu_s": cpu})
            print(f"round {round_ + 1} {way}: {samples[way][-1]['units']} units, wall {wall:.2f} s, cpu {cpu:.2f} s")

    ways: dict[str, dict[str, float]] = {}
    for way, rounds in samples.items():
        evidence = [seconds for wave in rounds for seconds in wave["evidence_s"]]
        ways[way] = {"units_per_wave": statistics.mean(wave["units"] for wave in rounds),
                     "evidence_s_p50": round(statistics.median(evidence), 3),
                     "evidence_s_p95": round(_p95(evidence), 3),
                     "wall_s_per_wave": round(statistics.mean(wave["wall_s"] for wave in rounds), 3),
                     "cpu_s_per_wave": round(statistics.mean(wave["cpu_s"] for wave in rounds), 3)}
    baseline = ways["each question embeds (before)"]
    for figures in ways.values():
        figures["units_x_baseline"] = round(figures["units_per_wave"] / baseline["units_per_wave"], 3)
        figures["evidence_p50_x_baseline"] = round(figures["evidence_s_p50"] / baseline["evidence_s_p50"], 3)
    results = {"corpus": "faq", "embedding_backend": backend, "rounds": args.rounds, "wave": args.wave,
               "workers": WORKERS, "ways": ways, "machine": machine_at_end(machine)}
    print(f"wrote {write_result('unit_vector_herd', results, args.out)}")


if __name__ == "__main__":
    main()
