"""Would tuning the ranking model on the team's votes lift retrieval on questions no vote was about?

The ranking model (all-mpnet-base-v2) decides which passage an answer quotes first
(knowledge/passage_ranking.py). `kbbot train ranking` tunes it on 👍-voted answers
(training/ranking_tuning.py); this bench measures what that buys, the way
bench/embedder_adaptation.py measured the first stage's model: the simulated team asks the FAQ's
`dev`-split items only (`bench/data/team_questions.jsonl` and the dev paraphrases: 255 questions over
85 FAQ items), so every figure on `test` and the holdouts is on FAQ items the tuning never saw.

Variants, each fine-tuned from the bundled weights with the product's own function
(`fine_tune_sentence_model`: `MultipleNegativesRankingLoss`, one epoch, batch 16, passages read up
to 256 tokens while training):

* **👍 votes only**: the questions whose section the untuned ranking model already puts first over
  the whole FAQ (a team votes 👍 on answers that quote the right section; a proxy for the answers'
  full order, which needs the database);
* **every vote**: every question with its right section, as if each wrong answer had also been
  corrected (a teammate's correction that names the section): the most the votes could teach.

Retrieval is the ranking model alone in memory over the FAQ pages' chunks as the product chunks them,
scored as the ranking search scores them (0.8 × passage cosine + 0.2 × heading cosine), without the
first stage or the best-unit term of the answers' order: a hit is a chunk of the question's FAQ
section (`bench.quality.is_gold`). AUC: the top score of answerable (test and second holdout) against
unanswerable questions. The third and fourth holdouts are blind: no choice here was made on them.

Run: `python -m bench.ranking_adaptation` (~20 minutes on 2 cores); writes
bench/results/ranking_adaptation.json, with the untuned model measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.embedder_adaptation import (
    chunk_vectors,
    faq_chunks,
    fine_tuned,
    first_stage_scores,
    measure,
    question_sets,
    vote_pairs,
)
from bench.faq import DOC_SOURCES, load_faq
from bench.machine import machine_at_end, machine_at_start
from bench.quality import ensure_doc_sources, is_gold
from bench.question_sets import AskedQuestion, fourth_holdout_paraphrases, team_questions, third_holdout_paraphrases
from bench.readme_tables import write_result
from knowledge.ranking_model import ranking_model_dir
from knowledge.search import HEADING_WEIGHT
from training.ranking_tuning import RankingTuningConfig

RESULTS = Path(__file__).parent / "results" / "ranking_adaptation.json"
TUNING = RankingTuningConfig()
"""The product's defaults (`kbbot train ranking`)."""


def thumbs_up(model: Any, chunks: Any, questions: list[AskedQuestion]) -> list[AskedQuestion]:
    """The questions whose own section `model` puts first over every chunk (what a team would 👍)."""
    scores = first_stage_scores(model, chunk_vectors(model, chunks), [asked.text for asked in questions])
    return [asked for asked, row in zip(questions, scores, strict=True)
            if asked.item is not None and is_gold(chunks[int(np.argmax(row))], asked.item)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path("var/models"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    machine = machine_at_start()
    folder = ranking_model_dir(args.models_dir)
    sources = ensure_doc_sources(DOC_SOURCES)
    chunks, items = faq_chunks(sources), load_faq(sources)
    answerable, refused = question_sets(items)
    answerable |= {"holdout3": third_holdout_paraphrases(items), "holdout4": fourth_holdout_paraphrases(items)}
    voters = team_questions(items) + answerable["dev"]
    started = time.perf_counter()
    bundled = SentenceTransformer(str(folder), device="cpu")
    variants: list[dict[str, Any]] = [{"variant": "all-mpnet-base-v2 untuned (baseline)", "pairs": 0, "train_s": 0.0,
                                       **measure(bundled, chunks, answerable, refused)}]
    print(json.dumps(variants[-1]))
    training = {"👍 votes only": vote_pairs(chunks, thumbs_up(bundled, chunks, voters)),
                "every vote": vote_pairs(chunks, voters)}
    del bundled
    for source, pairs in training.items():
        began = time.perf_counter()
        model = fine_tuned(pairs, epochs=TUNING.epochs, seed=TUNING.seed, folder=folder,
                           batch_size=TUNING.batch_size, max_seq_length=TUNING.max_seq_length)
        variants.append({"variant": f"tuned on {source}", "pairs": len(pairs),
                         "train_s": round(time.perf_counter() - began, 1),
                         **measure(model, chunks, answerable, refused)})
        print(json.dumps(variants[-1]))
    report = {"chunks": len(chunks), "voted_questions": len(voters), "epochs": TUNING.epochs,
              "batch_size": TUNING.batch_size, "learning_rate": TUNING.learning_rate,
              "max_seq_length": TUNING.max_seq_length, "seed": TUNING.seed, "heading_weight": HEADING_WEIGHT,
              "blind": ["holdout3", "holdout4"], "variants": variants,
              "wall_s": round(time.perf_counter() - started, 1), "machine": machine_at_end(machine)}
    print(f"wrote {write_result('ranking_adaptation', report, args.out)}")


if __name__ == "__main__":
    main()
