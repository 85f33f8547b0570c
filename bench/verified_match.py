"""Verified-answer matching: precision and recall per similarity threshold, and the served path's latency.

The paraphrase set (bench/data/verified_pairs.jsonl) holds 40 verified questions, each with two
paraphrases a teammate might type (should be served that answer) and two near misses on the same
topic asking something else (should be served nothing). Every asked question is looked up exactly
as the bot does (`store.verified_answers.nearest_verified` over all 40, on Postgres with the
product embedder); at threshold t it is served when the nearest similarity is ≥ t and the two
questions are not one-term swaps of each other (`bot.verified.swaps_terms`); it is offered (shown
above the evidence) on the similarity alone.

* precision(t) = served with the right verified answer / served;
* recall(t) = paraphrases served the right answer / paraphrases.

The serve threshold is the lowest t whose dev precision is ≥ 0.95 at t and every higher t (a wrong
verified answer is worse than none); the offer threshold, for showing a verified answer above the
evidence labelled with its own question, the lowest t with dev precision ≥ 0.75. The cosine-only
sweep is reported too, to show what the swap rule buys. Both are then reported
on the test half (the other 20 questions). The latency is `Answerer.answer` end to end for each
test paraphrase served (embedding, lookup, recording the answer), `PASSES` times over, with a
generator that counts calls.

Run: `python -m bench.verified_match` (writes bench/results/verified_match.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.database import bench_database
from bot.answering import Answerer, AnsweringConfig, Question
from bot.verified import VerifiedConfig, swaps_terms
from knowledge.embedding import SentenceTransformerEmbedder
from store.schema import WORKSPACE_SCOPE
from store.verified_answers import nearest_verified, record_verified_answer

DATA = Path(__file__).parent / "data" / "verified_pairs.jsonl"
RESULTS = Path(__file__).parent / "results" / "verified_match.json"
SERVE_PRECISION = 0.95
OFFER_PRECISION = 0.75
PASSES = 5


@dataclass(frozen=True, slots=True)
class Lookup:
    """One asked question: its split, whether it should match, whether the nearest is the right one, the cosine,
    and whether the two questions swap a term (which refuses serving)."""

    split: str
    should_match: bool
    nearest_is_right: bool
    similarity: float
    swapped: bool = False


class CountingGenerator:
    """A generator that only counts calls: the served path must never reach it."""

    adapter_name = "base"
    context_window = 2048

    def __init__(self) -> None:
        self.calls = 0

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        return "".join(m["content"] for m in messages)

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def stream(self, messages: Sequence[Mapping[str, str]], *, max_new_tokens: int = 256, temperature: float = 0.0,
               cancel: threading.Event | None = None, timeout_s: float | None = None) -> Iterator[str]:
        self.calls += 1
        yield "generated"


def scores(lookups: Sequence[Lookup], threshold: float, *, swap_rule: bool) -> dict[str, Any]:
    served = [item for item in lookups if item.similarity >= threshold and not (swap_rule and item.swapped)]
    right = [item for item in served if item.should_match and item.nearest_is_right]
    paraphrases = sum(item.should_match for item in lookups)
    return {"threshold": round(threshold, 2), "served": len(served), "right": len(right),
            "precision": round(len(right) / len(served), 4) if served else None,
            "recall": round(len(right) / paraphrases, 4) if paraphrases else None}


def lowest_threshold(rows: Sequence[dict[str, Any]], precision: float, *, for_every_higher: bool) -> float:
    """The lowest threshold whose precision reaches `precision` (there and above, when asked)."""
    ok = [row["precision"] is None or row["precision"] >= precision for row in rows]
    for index, row in enumerate(rows):
        if row["served"] and ok[index] and (not for_every_higher or all(ok[index:])):
            return float(row["threshold"])
    return 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    pairs = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    embedder = SentenceTransformerEmbedder()
    engine, sessions, _ = bench_database("verified")
    pool = list(dict.fromkeys(pair["verified"] for pair in pairs))
    ids = {}
    for question, vector in zip(pool, embedder.embed_documents(pool), strict=True):
        with sessions() as session, session.begin():
            record, _ = record_verified_answer(session, question=question, answer_text=f"The answer to: {question}",
                                               question_vector=vector, scope=WORKSPACE_SCOPE, author="UAUTHOR",
                                               confirmed_by="UAUTHOR")
        ids[question] = record.id
    lookups = []
    for pair, vector in zip(pairs, embedder.embed_documents([pair["asked"] for pair in pairs]), strict=True):
        with sessions() as session:
            found = nearest_verified(session, vector, scopes=[WORKSPACE_SCOPE])
        assert found is not None
        lookups.append(Lookup(split=pair["split"], should_match=pair["match"],
                              nearest_is_right=found[0].id == ids[pair["verified"]], similarity=found[1],
                              swapped=swaps_terms(pair["asked"], found[0].question)))
    thresholds = [round(0.50 + 0.01 * step, 2) for step in range(50)]
    by_split = {split: [scores([item for item in lookups if item.split == split], t, swap_rule=True)
                        for t in thresholds] for split in ("dev", "test")}
    cosine_only = {split: [scores([item for item in lookups if item.split == split], t, swap_rule=False)
                           for t in thresholds] for split in ("dev", "test")}
    serve = lowest_threshold(by_split["dev"], SERVE_PRECISION, for_every_higher=True)
    offer = min(serve, lowest_threshold(cosine_only["dev"], OFFER_PRECISION, for_every_higher=False))

    generator = CountingGenerator()
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=generator,
                        config=AnsweringConfig(verified=VerifiedConfig(serve_threshold=serve, offer_threshold=offer)))
    answerer.answer(Question(text=pool[0]))  # warm-up: first query plans, pool connections
    latencies, embed_ms, served_right = [], [], 0
    for pair in [p for p in pairs if p["split"] == "test" and p["match"]] * PASSES:
        started = time.perf_counter()
        embedder.embed_query(pair["asked"])
        embed_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        result = answerer.answer(Question(text=pair["asked"], channel="C1"))
        if result.verified is not None and result.verified.served:
            latencies.append((time.perf_counter() - started) * 1000)
            served_right += result.verified.record.id == ids[pair["verified"]]
    served_right //= PASSES
    engine.dispose()
    ordered = sorted(latencies)
    report = {
        "pairs": len(pairs), "verified_questions": len(pool),
        "paraphrases": sum(p["match"] for p in pairs), "near_misses": sum(not p["match"] for p in pairs),
        "rule": f"serve: lowest dev threshold with precision >= {SERVE_PRECISION} there and above; "
                f"offer: lowest dev threshold with precision >= {OFFER_PRECISION}",
        "serve_threshold": serve, "offer_threshold": offer,
        "at_serve_threshold": {split: next(r for r in rows if r["threshold"] == serve) for split, rows in
                               by_split.items()},
        "cosine_only_at_serve_threshold": {split: next(r for r in rows if r["threshold"] == serve)
                                           for split, rows in cosine_only.items()},
        "offered_at_offer_threshold": {split: next(r for r in rows if r["threshold"] == offer)
                                       for split, rows in cosine_only.items()},
        "served_path": {"answers": len(latencies) // PASSES, "right_answer": served_right, "passes": PASSES,
                        "generator_calls": generator.calls,
                        "latency_ms_p50": round(statistics.median(ordered), 1) if ordered else None,
                        "latency_ms_p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1) if ordered else None,
                        "latency_ms_max": round(ordered[-1], 1) if ordered else None,
                        "of_which_embedding_ms_p50": round(statistics.median(embed_ms), 1),
                        "load_average_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()},
        "sweep": by_split, "sweep_cosine_only": cosine_only,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "sweep"}, indent=2))


if __name__ == "__main__":
    main()
