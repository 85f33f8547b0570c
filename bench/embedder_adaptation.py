"""Would adapting the embedder lift retrieval on teammate wording? Measured before building it.

The answers' retrieval misses on blind teammate wording are mostly the right section ranked second
by all-MiniLM-L6-v2 (README *Retrieval and answer quality*). Measured when no stronger model was
known to install offline (all-mpnet-base-v2 since ranks the top passages, knowledge/passage_ranking.py):
the lever then was to fine-tune the bundled one, from two sources a running bot has:

* **the knowledge base alone** (self-supervised, before any vote): each chunk's innermost heading as
  a query for its passage (the embedding input the product stores: title and heading path above
  the text);
* **the team's votes**: a question whose answer got a 👍 as a query for the passage it quoted. The
  simulated team here asks the FAQ's `dev`-split items only (`bench/data/team_questions.jsonl`
  and the dev paraphrases: 255 questions over 85 FAQ items), so every figure on `test`,
  `holdout` and `holdout2` is on FAQ items the training never saw.

Each variant fine-tunes both sides (questions and passages: the knowledge base would be re-embedded)
with sentence-transformers' `MultipleNegativesRankingLoss` (in-batch negatives, batches without
duplicate passages), from the bundled weights, on the CPU; the votes variant with several seeds.
Retrieval is the first stage in memory over the FAQ pages' chunks as the product chunks them, scored
as `knowledge.search.vector_search` scores (0.8 × chunk cosine + 0.2 × heading cosine), without the
answers' re-ranking by best sentence (which needs the database): a hit is a chunk of the question's
FAQ section (`bench.quality.is_gold`). The abstention side: the top first-stage score of answerable
against unanswerable questions (test and blind sets), AUC and means, since the shipped thresholds
are calibrated on the bundled embedder's scores.

Run: `python -m bench.embedder_adaptation [--seeds 3]` (~12 minutes on 2 cores); writes
bench/results/embedder_adaptation.json, with the bundled embedder measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.answer_metrics import first_hit_rank
from bench.answer_quality import retrieval_figures
from bench.faq import DOC_SOURCES, FaqItem, load_faq
from bench.machine import machine_at_end, machine_at_start
from bench.quality import ensure_doc_sources, is_gold
from bench.question_sets import (
    AskedQuestion,
    holdout_paraphrases,
    holdout_unanswerable,
    paraphrases,
    second_holdout_paraphrases,
    second_holdout_unanswerable,
    team_questions,
    unanswerable,
)
from bench.readme_tables import write_result
from knowledge.chunking import chunk_document
from knowledge.chunking.embedding_text import embedding_input, heading_leaf
from knowledge.embedding import bundled_model_dir
from knowledge.extraction import extract_document
from knowledge.search import HEADING_WEIGHT

RESULTS = Path(__file__).parent / "results" / "embedder_adaptation.json"
MAX_SOURCE_BYTES = 10_000_000
EPOCHS = {"knowledge base headings": 1, "team votes": 2}
"""Epochs per training source (one-off trials: a second and third epoch on the headings moved
nothing; the votes' second epoch helped)."""
BATCH_SIZE = 32
LEARNING_RATE = 2e-5


@dataclass(frozen=True, slots=True)
class IndexedChunk:
    """A FAQ chunk as the product stores it: where it is from, its text and what gets embedded."""

    uri: str
    heading: str
    text: str
    embedded: str
    """The chunk's embedding input (title and heading path above the text)."""
    leaf: str
    """What its heading vector embeds."""


def faq_chunks(sources: Path) -> list[IndexedChunk]:
    """The FAQ pages chunked by the product's own extraction and chunker."""
    chunks = []
    for path in sorted((sources / "faq").glob("*.rst.txt")):
        document = extract_document(path.read_bytes(), name=str(path), max_bytes=MAX_SOURCE_BYTES)
        for chunk in chunk_document(document.text, fmt=document.fmt, language=document.language):
            chunks.append(IndexedChunk(uri=path.resolve().as_uri(), heading=chunk.heading, text=chunk.text,
                                       embedded=embedding_input(document.title, chunk.heading, chunk.text),
                                       leaf=heading_leaf(document.title, chunk.heading)))
    return chunks


def heading_pairs(chunks: Sequence[IndexedChunk]) -> list[tuple[str, str]]:
    """(innermost heading, embedded passage) for every chunk: the knowledge base's own supervision."""
    return [(chunk.leaf, chunk.embedded) for chunk in chunks if chunk.leaf]


def vote_pairs(chunks: Sequence[IndexedChunk], questions: Sequence[AskedQuestion]) -> list[tuple[str, str]]:
    """(question, the first chunk of its FAQ section): what a 👍 on an answer quoting it would teach."""
    pairs = []
    for asked in questions:
        gold = next((chunk for chunk in chunks if is_gold(chunk, asked.item)), None)  # type: ignore[arg-type]
        if gold is not None:
            pairs.append((asked.text, gold.embedded))
    return pairs


def fine_tuned(pairs: Sequence[tuple[str, str]], *, epochs: int, seed: int, folder: Path | None = None,
               batch_size: int | None = None, max_seq_length: int | None = None) -> Any:
    """The bundled embedder (or the model in `folder`) fine-tuned on (query, passage) pairs with in-batch
    negatives, as the product tunes its ranking model (training.ranking_tuning.fine_tune_sentence_model)."""
    from training.ranking_tuning import fine_tune_sentence_model

    return fine_tune_sentence_model(folder or bundled_model_dir(), pairs, epochs=epochs,
                                    batch_size=batch_size or BATCH_SIZE, learning_rate=LEARNING_RATE, seed=seed,
                                    max_seq_length=max_seq_length)


@dataclass(frozen=True, slots=True)
class ChunkVectors:
    """One model's vectors of the chunks and of their headings, computed once for every question set."""

    chunks: np.ndarray
    leaves: np.ndarray


def chunk_vectors(model: Any, chunks: Sequence[IndexedChunk]) -> ChunkVectors:
    return ChunkVectors(chunks=model.encode([chunk.embedded for chunk in chunks], normalize_embeddings=True,
                                            batch_size=32),
                        leaves=model.encode([chunk.leaf for chunk in chunks], normalize_embeddings=True,
                                            batch_size=64))


def first_stage_scores(model: Any, vectors: ChunkVectors, texts: Sequence[str]) -> np.ndarray:
    """Scores (questions × chunks) as vector_search computes them: chunk and heading cosines mixed."""
    query_vectors = model.encode(list(texts), normalize_embeddings=True, batch_size=64)
    return np.asarray((1 - HEADING_WEIGHT) * (query_vectors @ vectors.chunks.T)
                      + HEADING_WEIGHT * (query_vectors @ vectors.leaves.T))


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Probability that an answerable question's top score is above an unanswerable one's (ties: half)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return float(wins / (len(positives) * len(negatives)))


def measure(model: Any, chunks: Sequence[IndexedChunk], answerable: dict[str, list[AskedQuestion]],
            refused: Sequence[AskedQuestion]) -> dict[str, Any]:
    """Retrieval figures per question set, and how the top score separates unanswerable questions."""
    figures: dict[str, Any] = {}
    vectors = chunk_vectors(model, chunks)
    for name, questions in answerable.items():
        scores = first_stage_scores(model, vectors, [asked.text for asked in questions])
        ranks = [first_hit_rank([is_gold(chunks[i], asked.item) for i in np.argsort(-row)[:10]])  # type: ignore[arg-type]
                 for asked, row in zip(questions, scores, strict=True)]
        figures[name] = {key: round(value, 3) for key, value in retrieval_figures(ranks).items()}
        figures[name]["top_scores"] = [float(row.max()) for row in scores]
    held_out = [score for name in ("test", "holdout2") for score in figures[name]["top_scores"]]
    unanswered = [float(row.max()) for row in first_stage_scores(model, vectors, [q.text for q in refused])]
    for row in figures.values():
        row.pop("top_scores")
    figures["abstention"] = {"auc": round(auc(held_out, unanswered), 3),
                             "answerable_mean_top": round(float(np.mean(held_out)), 3),
                             "unanswerable_mean_top": round(float(np.mean(unanswered)), 3),
                             "answerable": len(held_out), "unanswerable": len(unanswered)}
    return figures


def question_sets(items: list[FaqItem]) -> tuple[dict[str, list[AskedQuestion]], list[AskedQuestion]]:
    answerable = {"dev": paraphrases(items, "dev"), "test": paraphrases(items, "test"),
                  "holdout": holdout_paraphrases(items), "holdout2": second_holdout_paraphrases(items)}
    return answerable, unanswerable("test") + holdout_unanswerable() + second_holdout_unanswerable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the votes variant (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    machine = machine_at_start()
    sources = ensure_doc_sources(DOC_SOURCES)
    chunks, items = faq_chunks(sources), load_faq(sources)
    answerable, refused = question_sets(items)
    training = {"knowledge base headings": heading_pairs(chunks),
                "team votes": vote_pairs(chunks, team_questions(items) + paraphrases(items, "dev"))}
    variants: list[dict[str, Any]] = []
    started = time.perf_counter()
    bundled = SentenceTransformer(str(bundled_model_dir()), device="cpu")
    variants.append({"variant": "bundled (baseline)", "seed": None, "pairs": 0, "train_s": 0.0,
                     **measure(bundled, chunks, answerable, refused)})
    print(json.dumps(variants[-1]))
    for source, pairs in training.items():
        for seed in range(args.seeds if source == "team votes" else 1):
            began = time.perf_counter()
            model = fine_tuned(pairs, epochs=EPOCHS[source], seed=seed)
            variants.append({"variant": f"fine-tuned on {source}", "seed": seed, "pairs": len(pairs),
                             "train_s": round(time.perf_counter() - began, 1),
                             **measure(model, chunks, answerable, refused)})
            print(json.dumps(variants[-1]))
    report = {"chunks": len(chunks), "epochs": EPOCHS, "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE,
              "heading_weight": HEADING_WEIGHT, "variants": variants,
              "wall_s": round(time.perf_counter() - started, 1), "machine": machine_at_end(machine)}
    print(f"wrote {write_result('embedder_adaptation', report, args.out)}")


if __name__ == "__main__":
    main()
