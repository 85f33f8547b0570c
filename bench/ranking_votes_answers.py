"""What a ranking model tuned on the team's 👍 votes changes in the answers themselves (the FAQ knowledge base).

bench/ranking_adaptation.py measures the tuned ranking model alone, in memory. This bench runs the
loop as the product does, on the `faq` bench knowledge base (`var/bench-faq-pg`, built by
`python -m bench.quality`):

1. **Votes**: the simulated team asks its 255 questions about the FAQ's `dev` items
   (`bench/data/team_questions.jsonl` and the dev paraphrases) through the answers' shipped order;
   it votes 👍 on an answer whose first source is the question's own section (the only votes a
   team gives without a correction). Each vote becomes the row `kbbot train ranking` reads
   (`store.datasets_store.RatedAnswer`, the first source and the answer's sources in order).
2. **Tuning**: the product's own `training.ranking_votes.ranking_votes` (split by question) and
   `training.ranking_tuning.tune_ranking_model` (train, gate against the serving model), kept whatever
   the gate says (`force`, recorded with the gate's verdict) so the answers can show what it would
   change, then its vectors of every passage (`rank_missing`), stored beside the serving model's.
3. **Answers**: every question set answered (evidence only, no model call) in the shipped order with
   the untuned ranking model and with the tuned one, in the same run: retrieval hit@1/5/10 and MRR
   of the answers' sources, and the shipped abstention rule's answered / refused shares (the blind
   third, fourth and fifth holdouts also pooled, with 95% intervals).

The tuned model's rows and folder are deleted at the end, so the bench knowledge base is left as it
was. Test and every holdout are FAQ items no vote was about.

Run: `python -m bench.ranking_votes_answers` (~10 minutes on 2 cores, after `bench.quality` has built
the `faq` knowledge base); writes bench/results/ranking_votes_answers.json.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from bench.answer_quality import retrieval_figures
from bench.faq import load_faq
from bench.machine import machine_at_end, machine_at_start
from bench.question_sets import AskedQuestion, paraphrases, team_questions
from bench.readme_tables import write_result

RESULTS = Path(__file__).parent / "results" / "ranking_votes_answers.json"
SPLITS = ("test", "holdout", "holdout2", "holdout3", "holdout4", "holdout5")
BLIND = ("holdout3", "holdout4", "holdout5")


def thumbs_up_answers(answerer: Any, questions: list[AskedQuestion]) -> list[Any]:
    """The simulated team's 👍 votes: each question whose answer cites its own section first, as the row
    `kbbot train ranking` reads (public channel, one 👍, the answer's sources in order)."""
    from bench.quality import is_gold
    from bot.answering import Question
    from store.datasets_store import RatedAnswer

    rows = []
    for number, asked in enumerate(questions, start=1):
        text = asked.text
        found = answerer.find(Question(text=text), text, text, answerer._embedder.embed_query(text))[0]  # noqa: SLF001
        if found and asked.item is not None and is_gold(found[0], asked.item):
            rows.append(RatedAnswer(
                answer_id=number, question=text, prompt="", completion="", channel="C1", thread_ts=f"{number}.0",
                asker="UASKER", scope="workspace",
                passages=[{"n": n, "chunk_id": p.chunk_id, "scope": p.scope} for n, p in enumerate(found, start=1)],
                abstained=False, adapter_name="base", created_at=datetime.now(UTC), votes=(("UVOTER", 1),),
                references=(), search_query=text))
    return rows


def answers_with(answerer: Any, shipped: Any, sets: dict[str, list[AskedQuestion]],
                 unanswerable_sets: dict[str, list[AskedQuestion]]) -> dict[str, Any]:
    """Retrieval of the answers' sources (`answerer`: ten of them) and the shipped rule's verdicts on
    the figures `shipped` (the shipped answering settings, abstention off) measures, per split and
    blind-pooled, as the quality bench reports them."""
    from bench.quality import measure_relevance, on_split, pooled_with_intervals, reranked_ranks
    from bot.abstention import AbstentionConfig

    relevance = measure_relevance(shipped, sets, unanswerable_sets, splits=SPLITS)
    rule = AbstentionConfig()
    figures: dict[str, Any] = {split: {"retrieval": retrieval_figures(reranked_ranks(answerer,
                                                                                      sets[f"paraphrases {split}"])[0]),
                                       "abstention": on_split(relevance, rule, split)} for split in SPLITS}
    figures["blind_pooled"] = pooled_with_intervals(relevance, rule, BLIND)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import torch

    from bench import quality
    from bench.shipped import shipped_ranker
    from bot.answering import Answerer, AnsweringConfig
    from knowledge.embedding import SentenceTransformerEmbedder
    from knowledge.passage_ranking import PassageRanker, rank_missing
    from knowledge.ranking_model import ranking_folder, ranking_model_dir
    from store.config import ModelsSettings
    from store.ranking_vectors import chunk_texts
    from store.schema import RankingVectors
    from tests.scripted_generator import ScriptedGenerator
    from training.config import DatasetConfig
    from training.ranking_tuning import RankingTuningConfig, tune_ranking_model
    from training.ranking_votes import ranking_votes

    torch.set_num_threads(2)
    machine = machine_at_start()
    started = time.perf_counter()
    sources = quality.ensure_doc_sources()
    items = load_faq(sources)
    sets, unanswerable_sets = quality.question_sets(items)
    embedder = SentenceTransformerEmbedder()
    serving = shipped_ranker("the ranking-votes answers bench")
    engine, sessions = quality._corpus_database(quality.corpora(sources)["faq"])  # noqa: SLF001

    def answerer(ranker: PassageRanker, passages: int = 10) -> Answerer:
        """Evidence only, abstention off; ten sources for hit@10, the shipped count for the abstention figures."""
        return Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator("unused"), ranker=ranker,
                        config=AnsweringConfig(passages=passages, summarise=False, abstention=quality.PERMISSIVE))

    shipped_passages = AnsweringConfig().passages

    voters = team_questions(items) + paraphrases(items, "dev")
    rated = thumbs_up_answers(answerer(serving, shipped_passages), voters)
    votes = ranking_votes(rated, DatasetConfig())
    wanted = {vote.chunk_id for vote in votes.train} | {c for vote in votes.held_out for c in vote.sources}
    with sessions() as session:
        passages = {chunk.chunk_id: chunk for chunk in chunk_texts(session, sorted(wanted))}
    out_root = Path(tempfile.mkdtemp(prefix="ranking-votes-bench-"))
    models = ModelsSettings()
    base = ranking_model_dir(models.models_dir)
    tuned = None
    try:
        tuned = tune_ranking_model(base=base, serving=ranking_folder(models.ranking_model, models.models_dir),
                                   votes=votes, passages=passages, out_root=out_root, config=RankingTuningConfig(),
                                   force=True)
        report: dict[str, Any] = {
            "voted_questions": len(voters), "thumbs_up": len(rated), "excluded": votes.excluded,
            "train_pairs": tuned.train_pairs, "held_out": tuned.held_out, "train_s": tuned.train_s,
            "gate_passed": tuned.gate_passed, "gate_votes": tuned.gate_votes(),
            "gate": {"serving": tuned.serving.as_json(), "tuned": tuned.tuned.as_json()}}
        print(report)
        if tuned.folder is not None:  # kept whatever the gate said (force), so the answers show both
            tuned_ranker = PassageRanker(tuned.folder)
            ranked_started = time.perf_counter()
            report["passages_ranked"] = rank_missing(sessions, tuned_ranker)
            report["rank_s"] = round(time.perf_counter() - ranked_started, 1)
            report["untuned"] = answers_with(answerer(serving), answerer(serving, shipped_passages), sets,
                                             unanswerable_sets)
            print({"untuned": report["untuned"]})
            report["tuned"] = answers_with(answerer(tuned_ranker), answerer(tuned_ranker, shipped_passages), sets,
                                           unanswerable_sets)
            print({"tuned": report["tuned"]})
    finally:
        if tuned is not None:  # the bench knowledge base is left as it was, whatever happened
            with sessions.begin() as session:
                session.execute(delete(RankingVectors).where(RankingVectors.model == tuned.name))
        shutil.rmtree(out_root, ignore_errors=True)
        engine.dispose()
    report.update({"splits": list(SPLITS), "blind": list(BLIND), "wall_s": round(time.perf_counter() - started, 1),
                   "machine": machine_at_end(machine)})
    print(f"wrote {write_result('ranking_votes_answers', report, args.out)}")


if __name__ == "__main__":
    main()
