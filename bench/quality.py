"""Quality on real public data: retrieval, evidence, checked answers and abstention on the Python docs.

Two corpora, each ingested through the product's own ingest path from the reStructuredText sources
of Debian's `python3.11-doc` (installed by this script when missing), each in its own embedded
Postgres:
* `faq`: the nine Python FAQ pages alone (~300 chunks): a team-FAQ-sized knowledge base, the
  setting the trustworthy-answers issue measured its baselines in;
* `docs`: the whole Python 3.11 documentation (~15,600 chunks), where the FAQ competes with every
  library and tutorial page that also answers (and with many that almost do).
Questions (bench/question_sets.py): the FAQ's own headings (flattering), hand-written
teammate-style paraphrases of them and unanswerable questions (off-topic and near-misses), the
last two split into `dev` (calibration) and `test` (reported), plus five holdout sets of each,
written blind at different times (`holdout`, now dev data; `holdout2`; `holdout3`; `holdout4`;
`holdout5`, the freshest; see bench/question_sets.py). A retrieved passage is
a hit when it lies in the question's FAQ section.

Reported, each with its baseline measured in the same run:
* retrieval hit@1/5/10 and MRR per search mode, plain and re-ranked by best-matching unit;
* abstention: thresholds calibrated on dev (each knowledge base's, and all of them together: the
  shipped default), answered/refused shares on test and holdout, against the earlier rules;
* answers on test paraphrases: token F1 vs the gold section as a reader sees it (FaqItem.shown_answer:
  roles rendered, author comments dropped) for the raw generation, the published answer and the
  evidence alone, against the "first 120 words of the top passage" baseline (the evidence's and the
  baseline's F1 against the section's source markup are kept beside them); share
  of published sentences supported; invented URLs/commands/identifiers (must be 0); median time to
  first text and to the final answer;
* ablations of the generation settings on a subset (repetition control, prompt passages, length),
  and the evidence-selection variants on dev, on the first corpus named.

Run: `python -m bench.quality [--corpora faq docs] [--answers 30] [--ablation-answers 10]`; results
go to bench/results/quality.{json,md,png} and quality_answers.jsonl (per question); the ablations, only
when `--ablation-answers` is above 0, to quality_generation_ablation.{json,md}. Each `.md` is its JSON
rendered by bench/readme_tables.py, the renderer of the README's blocks. Ingesting the
whole docs the first time takes ~10–40 minutes on 2 cores (the FAQ pages ~30 s); later runs reuse
them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.answer_metrics import first_hit_rank, overlap_share, wilson_interval
from bench.answer_quality import (
    LabelledRelevance,
    abstention_figures,
    calibrate,
    outcome_rows,
    plain,
    retrieval_figures,
    rule_figures,
    run_questions,
    summarise_answers,
)
from bench.faq import DOC_SOURCES, FaqItem, load_faq
from bench.question_sets import (
    AskedQuestion,
    fifth_holdout_paraphrases,
    fifth_holdout_unanswerable,
    fourth_holdout_paraphrases,
    fourth_holdout_unanswerable,
    headings,
    holdout_paraphrases,
    holdout_unanswerable,
    paraphrases,
    second_holdout_paraphrases,
    second_holdout_unanswerable,
    third_holdout_paraphrases,
    third_holdout_unanswerable,
    unanswerable,
)
from bench.readme_tables import write_result
from bench.shipped import RERANK_DEPTH_BEFORE as DEPTH_BEFORE
from bot.abstention import AbstentionConfig, Relevance, is_loose, judge
from bot.reranking import RerankConfig
from knowledge.embedding import Embedder
from knowledge.passage_ranking import PassageRanker, fill_search_vectors, rank_missing
from knowledge.search import search_passages
from store.schema import Chunk
from store.types import Passage

RESULTS_DIR = Path("bench/results")
ABLATION_FILE = "quality_generation_ablation.json"
"""Generation ablations are slow (six settings × N answers), so they run only when asked and keep
their own file: each table's baseline row is measured in the same run as its variants."""
GOLD_OVERLAP = 0.6
"""A passage counts as gold when it is in the question's section or mostly made of its words."""

MAX_SOURCE_BYTES = 5 * 1024 * 1024

@dataclass(frozen=True, slots=True)
class Corpus:
    """A knowledge base the bench measures: what it is, where its sources and database live."""

    label: str
    sources: Path
    pg_data_dir: Path


def corpora(sources: Path) -> dict[str, Corpus]:
    return {
        "faq": Corpus("Python FAQ pages only (a team-FAQ-sized knowledge base)", sources / "faq",
                      Path("var/bench-faq-pg")),
        "docs": Corpus("whole Python 3.11 documentation (the FAQ among ~500 pages)", sources,
                       Path("var/bench-quality-pg")),
    }


SEARCH_VARIANTS: dict[str, dict[str, object]] = {
    "vector, chunk vectors only": {"mode": "vector", "heading_weight": 0.0},
    "vector + heading vectors (first stage; answers before the re-ranking)": {"mode": "vector"},
    "fulltext": {"mode": "fulltext"},
    "hybrid (text weight 0.25)": {"mode": "hybrid", "text_weight": 0.25},
}
DEPTH = RerankConfig().depth
SEARCHED = RerankConfig().ranking_search
RERANKED = (f"first stage's top {DEPTH} + the ranking model's own top {SEARCHED}, re-ranked by the ranking model "
            "+ best-matching unit (default)")
"""The retrieval row of the order answers use (bot/reranking.py, knowledge/passage_ranking.py)."""
BEFORE_SEARCH = RerankConfig(ranking_search=0)
"""The order shipped before the ranking model's own search: the first stage's top 20 re-ranked."""
RERANKED_BEFORE_SEARCH = (f"first stage, top {DEPTH} re-ranked by the ranking model + best-matching unit "
                          "(before the ranking model's own search)")
RERANKED_DEPTH_BEFORE = (f"first stage, top {DEPTH_BEFORE} re-ranked by the ranking model + best-matching unit "
                         f"(before the top {DEPTH})")
RANKING_ALONE = (f"first stage's top {DEPTH} + the ranking model's own top {SEARCHED}, re-ranked by the ranking "
                 "model alone (unit weight 0)")
RERANKED_BEFORE = "first stage, top 10 re-ranked by best-matching unit (before the ranking model)"
"""The re-ranking shipped before the ranking model, measured in the same run."""
PERMISSIVE = AbstentionConfig(min_score=-1.0, unknown_score=-1.0, min_coverage=0.0)
"""Abstention off: the evidence pass measures relevance figures for every question, then judges them."""
EARLIER_RULES = {
    "similarity_only_0.3": AbstentionConfig(min_score=0.3, unknown_score=0.3, figure="passage"),
    "coverage_0.6": AbstentionConfig(min_score=0.36, unknown_score=0.36, min_coverage=0.6, figure="passage"),
    "passage_rule_before": AbstentionConfig(min_score=0.32, unknown_score=0.53, figure="passage"),
    "evidence_only": AbstentionConfig(min_score=0.35, unknown_score=0.47, figure="evidence"),
}
"""Rules measured against the default in the same run: the first build's (best passage's similarity
≥ 0.3), passage similarity plus key-term coverage, and the one shipped before the evidence score
(best passage's similarity ≥ 0.32, ≥ 0.53 with an unknown name), and the best evidence unit's
score alone, calibrated the same way (≥ 0.35, ≥ 0.47), tried before the mean of both."""
RULE_BEFORE_RANKING = AbstentionConfig(min_score=0.36, unknown_score=0.47)
"""The shipped rule before the ranking model (calibrated on the re-ranking by best unit alone),
measured on that order in the same run."""
RULE_BEFORE_RERANK = AbstentionConfig(min_score=0.33, unknown_score=0.47)
"""The shipped rule before the re-ranking (the same figure, calibrated on the first stage's order),
measured on the first stage's order in the same run."""



@dataclass(frozen=True, slots=True)
class EarlierOrder:
    """An order (and the abstention rule shipped with it) that answers used before, measured beside
    the shipped one in the same run: its abstention rows are `{split}_{key}`, its evidence rows
    `evidence_only_{split}_{key}`."""

    key: str
    rerank: RerankConfig
    rule: AbstentionConfig
    ranked: bool
    """Whether the order reads the ranking model."""


EARLIER_ORDERS = (
    EarlierOrder("before_rerank", RerankConfig(depth=0), RULE_BEFORE_RERANK, ranked=False),
    EarlierOrder("before_ranking", RerankConfig(depth=DEPTH_BEFORE, ranking_search=0), RULE_BEFORE_RANKING,
                 ranked=False),
    EarlierOrder(f"top{DEPTH_BEFORE}", RerankConfig(depth=DEPTH_BEFORE, ranking_search=0), AbstentionConfig(),
                 ranked=True),
    EarlierOrder("before_search", BEFORE_SEARCH, AbstentionConfig(), ranked=True),
)
"""The first stage's order, the top 10 re-ranked by best unit (before the ranking model), the top 10
re-ranked with the ranking model (before the top 20), and the top 20 re-ranked with it (before the
ranking model's own search)."""
HELD_OUT = ("test", "holdout", "holdout2", "holdout3", "holdout4", "holdout5")
"""The splits figures are reported on (dev is where thresholds are calibrated)."""
BLIND_ABSTENTION = ("holdout3", "holdout4", "holdout5")
"""The holdout sets whose abstention figures are still blind (no choice was made on their refusals),
also reported pooled with 95% intervals: at 85 + 40 questions a set moves 1.2 / 2.5 points a question."""
Splits = Mapping[str, LabelledRelevance]
"""A knowledge base's measured relevance figures by split ("dev" and the HELD_OUT ones)."""


def ensure_doc_sources(sources: Path = DOC_SOURCES) -> Path:
    """The Python doc sources, installing Debian's python3.11-doc first when they are missing."""
    if not (sources / "faq").is_dir():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise SystemExit(f"{sources} is missing: install Debian's python3.11-doc package")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "python3.11-doc"], check=True)
    return sources


def is_gold(passage: Passage, item: FaqItem) -> bool:
    """Whether a retrieved passage comes from the item's gold answer section."""
    if not passage.uri.endswith(f"faq/{item.file}"):
        return False
    return item.question in passage.heading or overlap_share(passage.text, item.answer) >= GOLD_OVERLAP


def gold_ranks(questions: list[AskedQuestion],
               retrieve: Callable[[str], Sequence[Passage]]) -> tuple[list[int | None], float]:
    """Rank of the first gold passage among what `retrieve` returns per question, and the median
    latency of `retrieve` in ms."""
    ranks, latencies = [], []
    for asked in questions:
        started = time.perf_counter()
        found = retrieve(asked.text)
        latencies.append((time.perf_counter() - started) * 1000)
        ranks.append(first_hit_rank([is_gold(p, asked.item) for p in found]))  # type: ignore[arg-type]
    latencies.sort()
    return ranks, latencies[len(latencies) // 2] if latencies else 0.0


def search_ranks(sessions: sessionmaker[Session], embedder: Embedder, questions: list[AskedQuestion],
                 **search: object) -> tuple[list[int | None], float]:
    """Rank of the first gold passage per question (plain search), and the median latency in ms."""
    return gold_ranks(questions, lambda text: search_passages(sessions, embedder, text, limit=10,
                                                              **search))  # type: ignore[arg-type]


def ingest_corpus(sessions: sessionmaker[Session], embedder: Embedder, sources: Path) -> dict[str, float]:
    from knowledge.ingest import ingest_path

    with sessions() as session:
        existing = session.scalar(select(func.count()).select_from(Chunk)) or 0
    started = time.perf_counter()
    report = ingest_path(sessions, embedder, sources, max_bytes=MAX_SOURCE_BYTES)
    elapsed = time.perf_counter() - started
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(Chunk)) or 0
    return {"chunks": total, "new_chunks": total - existing, "seconds": elapsed,
            "errors": len(report.failures)}


def spread(items: list[Any], count: int) -> list[Any]:
    """`count` items spread evenly over the list (every FAQ page represented); none for a count ≤ 0."""
    if count <= 0:
        return []
    if count >= len(items):
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def reranked_ranks(answerer: Any, questions: list[AskedQuestion]) -> tuple[list[int | None], float]:
    """Rank of the first gold passage in the order an answer cites its sources (first stage, then the
    re-ranking by best unit: bot/reranking.py), and the median latency of both in ms."""
    from bot.answering import Question

    embed_query = answerer._embedder.embed_query  # noqa: SLF001 - the bench times what prepare() runs
    return gold_ranks(questions, lambda text: answerer.find(Question(text=text), text, text, embed_query(text))[0])


def rank_candidates(sessions: sessionmaker[Session], embedder: Embedder, ranker: PassageRanker,
                    questions: list[AskedQuestion], depth: int = DEPTH) -> dict[str, float]:
    """The ranking model's vectors (and search vectors) of every chunk, as `kbbot kb rank` computes them.

    What a knowledge base in use holds: `kbbot kb add` ranks every chunk it adds, and the ranking
    model's own search reads every chunk's vectors. On the 15k-chunk `docs` corpus the first run takes
    about 40 minutes on 2 cores; the database keeps them. `candidates` counts the chunks in the first
    stage's top `depth` of any bench question (what the re-ranking alone would read).
    """
    candidates = {passage.chunk_id for asked in questions
                  for passage in search_passages(sessions, embedder, asked.text, limit=depth)}
    started = time.perf_counter()
    fill_search_vectors(sessions, ranker.model_name)
    ranked = rank_missing(sessions, ranker)
    with sessions() as session:
        chunks = session.scalar(select(func.count()).select_from(Chunk)) or 0
    return {"chunks": chunks, "candidates": len(candidates), "ranked_now": ranked,
            "seconds": round(time.perf_counter() - started, 1)}


def retrieval_section(sessions: sessionmaker[Session], embedder: Embedder, sets: dict[str, list[AskedQuestion]],
                      ranker: PassageRanker) -> dict[str, dict[str, Any]]:
    """hit@k/MRR per search variant and question set, then the answers' re-ranked orders."""
    from bot.answering import Answerer, AnsweringConfig
    from tests.scripted_generator import ScriptedGenerator

    table: dict[str, dict[str, Any]] = {}
    for name, search in SEARCH_VARIANTS.items():
        for set_name, questions in sets.items():
            ranks, p50 = search_ranks(sessions, embedder, questions, **search)
            table.setdefault(name, {})[set_name] = {**retrieval_figures(ranks), "p50_ms": round(p50, 1)}
    # Ten sources (hit@10); the model is never called here.
    orders = {RERANKED_BEFORE: (None, RerankConfig(depth=DEPTH_BEFORE)),
              RERANKED_DEPTH_BEFORE: (ranker, RerankConfig(depth=DEPTH_BEFORE, ranking_search=0)),
              RERANKED_BEFORE_SEARCH: (ranker, BEFORE_SEARCH),
              RANKING_ALONE: (ranker, RerankConfig(unit_weight=0.0)), RERANKED: (ranker, RerankConfig())}
    for name, (order_ranker, rerank) in orders.items():
        reranking = Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator("unused"),
                             config=AnsweringConfig(passages=10, summarise=False, abstention=PERMISSIVE, rerank=rerank),
                             ranker=order_ranker)
        for set_name, questions in sets.items():
            ranks, p50 = reranked_ranks(reranking, questions)
            table.setdefault(name, {})[set_name] = {**retrieval_figures(ranks), "p50_ms": round(p50, 1)}
    for name, row in table.items():
        for set_name, figures in row.items():
            print(f"{name:>34} {set_name:>16}: hit@1 {figures['hit_at_1']:.3f}  hit@5 {figures['hit_at_5']:.3f}  "
                  f"hit@10 {figures['hit_at_10']:.3f}  MRR {figures['mrr']:.3f}  p50 {figures['p50_ms']:.0f} ms")
    return table


def evidence_variants(answerer: Any, questions: list[AskedQuestion]) -> dict[str, float]:
    """Evidence-only F1 on dev for a few selection settings (the lever behind EvidenceConfig's defaults)."""
    from bench.answer_metrics import token_scores
    from bot.answering import Question
    from bot.evidence import EvidenceConfig, select_evidence

    variants = {f"lead {lead} / budget {budget} / relative score {share}":
                EvidenceConfig(lead_words=lead, budget_words=budget, min_relative_score=share)
                for lead, budget, share in [(0, 120, 0.8), (40, 120, 0.8), (80, 120, 0.8), (120, 120, 0.8),
                                            (80, 160, 0.8), (80, 120, 0.6), (120, 160, 0.8), (120, 160, 0.9),
                                            (150, 190, 0.9)]}
    embed_query = answerer._embedder.embed_query  # noqa: SLF001 - the bench scores what the answerer would
    # Each question's ranked passages and rendered gold once; only the selection differs per variant.
    ranked_by_question = [(asked.item.shown_answer(),  # type: ignore[union-attr]
                           answerer.find(Question(text=asked.text), asked.text, asked.text, embed_query(asked.text))[1])
                          for asked in questions]
    figures = {}
    for name, config in variants.items():
        scores = []
        for gold, ranked in ranked_by_question:
            quotes = select_evidence(ranked, list(range(1, len(ranked) + 1)), config)
            scores.append(token_scores(plain("\n".join(q.text for q in quotes)), gold).f1)
        figures[name] = round(sum(scores) / len(scores), 4)
        print(f"evidence {name}: F1 {figures[name]:.3f}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", choices=["faq", "docs"], default=["faq", "docs"],
                        help="knowledge bases to measure; the first also gets the ablations")
    parser.add_argument("--answers", type=int, default=30, help="test paraphrases answered with the model (0: none)")
    parser.add_argument("--ablation-answers", type=int, default=10, help="questions per generation ablation (0: none)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)

    from bench.shipped import shipped_ranker
    from knowledge.embedding import SentenceTransformerEmbedder

    sources = ensure_doc_sources()
    embedder = SentenceTransformerEmbedder()
    ranker = shipped_ranker("the quality bench")
    sets, unanswerable_sets = question_sets(load_faq(sources))
    generator = _generator()
    results: dict[str, Any] = {"questions": {name: len(q) for name, q in sets.items()}
                               | {f"unanswerable {name}": len(q) for name, q in unanswerable_sets.items()},
                               "corpora": {}}
    rows: list[dict[str, Any]] = []
    relevance: dict[str, Splits] = {}
    known = corpora(sources)
    for position, name in enumerate(args.corpora):
        corpus = known[name]
        print(f"== corpus {name}: {corpus.label}")
        engine, sessions = _corpus_database(corpus)
        figures, corpus_rows, relevance[name] = evaluate_corpus(sessions, embedder, generator, corpus, sets,
                                                                unanswerable_sets, answers=args.answers,
                                                                ranker=ranker)
        results["corpora"][name] = figures
        rows += [{"corpus": name, **row} for row in corpus_rows]
        if position == 0:
            from bot.answering import Answerer, AnsweringConfig

            evidence_only = Answerer(sessions=sessions, embedder=embedder, generator=generator, config=AnsweringConfig(
                summarise=False, abstention=PERMISSIVE), ranker=ranker)
            results["evidence_variants_dev"] = {"corpus": name, **evidence_variants(evidence_only,
                                                                                 sets["paraphrases dev"])}
            if args.ablation_answers:
                ablation = {"corpus": name, "variants": ablations(
                    sessions, embedder, generator, spread(sets["paraphrases test"], args.ablation_answers))}
                write_result("quality_generation_ablation", ablation, args.out / ABLATION_FILE)
        engine.dispose()
    results["abstention_joint"] = joint_calibration(relevance)
    print(f"abstention, calibrated on every knowledge base's dev split: {results['abstention_joint']}")
    write_results(results, rows, args.out)
    print(f"wrote {args.out / 'quality.md'}, quality.json, quality_answers.jsonl and quality.png")


def question_sets(items: list[FaqItem]) -> tuple[dict[str, list[AskedQuestion]], dict[str, list[AskedQuestion]]]:
    """The bench's answerable sets (headings, then paraphrases by split) and unanswerable sets by split."""
    sets = {"headings": headings(items), "paraphrases dev": paraphrases(items, "dev"),
            "paraphrases test": paraphrases(items, "test"), "paraphrases holdout": holdout_paraphrases(items),
            "paraphrases holdout2": second_holdout_paraphrases(items),
            "paraphrases holdout3": third_holdout_paraphrases(items),
            "paraphrases holdout4": fourth_holdout_paraphrases(items),
            "paraphrases holdout5": fifth_holdout_paraphrases(items)}
    unanswerable_sets = {"dev": unanswerable("dev"), "test": unanswerable("test"), "holdout": holdout_unanswerable(),
                         "holdout2": second_holdout_unanswerable(), "holdout3": third_holdout_unanswerable(),
                         "holdout4": fourth_holdout_unanswerable(), "holdout5": fifth_holdout_unanswerable()}
    return sets, unanswerable_sets


def _corpus_database(corpus: Corpus) -> tuple[Any, sessionmaker[Session]]:
    from store.database import make_engine, make_session_factory, resolve_database_url
    from store.migrate import upgrade

    url = resolve_database_url(None, corpus.pg_data_dir)
    upgrade(url)
    engine = make_engine(url)
    return engine, make_session_factory(engine)


def ingested_corpus(corpus: Corpus, embedder: Embedder) -> sessionmaker[Session]:
    """The corpus's database, migrated, with its sources ingested by `embedder` when it holds no chunks yet."""
    _, sessions = _corpus_database(corpus)
    with sessions() as session:
        if not session.scalar(select(func.count()).select_from(Chunk)):
            ingest_corpus(sessions, embedder, corpus.sources)
    return sessions


def faq_knowledge_base(wrap: Callable[[Embedder], Any] = lambda embedder: embedder
                       ) -> tuple[Path, str, Any, sessionmaker[Session]]:
    """The FAQ corpus as the product answers from it: the doc sources, the embedding backend `auto`
    picks here, its embedder (passed through `wrap`, e.g. to count what it embeds) and the ingested
    knowledge base's sessions."""
    from knowledge.embedding import make_embedder, resolve_backend
    from knowledge.settings import KnowledgeSettings

    sources = ensure_doc_sources(DOC_SOURCES)
    backend = resolve_backend(KnowledgeSettings().embedding_backend)
    embedder = wrap(make_embedder(backend))
    return sources, backend, embedder, ingested_corpus(corpora(sources)["faq"], embedder)


def evaluate_corpus(sessions: sessionmaker[Session], embedder: Embedder, generator: Any, corpus: Corpus,
                    sets: dict[str, list[AskedQuestion]], unanswerable_sets: dict[str, list[AskedQuestion]], *,
                    answers: int, ranker: PassageRanker) -> tuple[dict[str, Any], list[dict[str, Any]], Splits]:
    """Retrieval, abstention, evidence-only and checked answers on one knowledge base; also the
    measured relevance figures, which main() calibrates the shipped thresholds on."""
    from bot.answering import Answerer, AnsweringConfig

    ingest = ingest_corpus(sessions, embedder, corpus.sources)
    print(f"corpus: {ingest['chunks']} chunks ({ingest['new_chunks']} new, {ingest['seconds']:.0f} s)")
    every_question = [asked for questions in (*sets.values(), *unanswerable_sets.values()) for asked in questions]
    ranking = rank_candidates(sessions, embedder, ranker, every_question)
    print(f"ranking model: {ranking}")
    results: dict[str, Any] = {"label": corpus.label, "corpus": ingest, "ranking_vectors": ranking,
                               "retrieval": retrieval_section(sessions, embedder, sets, ranker)}

    def evidence_answerer(abstention: AbstentionConfig, rerank: RerankConfig | None = None,
                          ranked: bool = True) -> Answerer:
        """An evidence-only answerer (no model call) in the shipped order, or in `rerank` with or without
        the ranking model."""
        return Answerer(sessions=sessions, embedder=embedder, generator=generator, ranker=ranker if ranked else None,
                        config=AnsweringConfig(summarise=False, abstention=abstention,
                                               rerank=rerank or RerankConfig()))

    # Abstention: relevance figures for every question, thresholds calibrated on dev, reported on test.
    relevance = measure_relevance(evidence_answerer(PERMISSIVE), sets, unanswerable_sets)
    earlier = {order.key: measure_relevance(evidence_answerer(PERMISSIVE, order.rerank, order.ranked), sets,
                                            unanswerable_sets, splits=HELD_OUT) for order in EARLIER_ORDERS}
    config, chosen = calibrate([relevance["dev"]])
    default = AbstentionConfig()
    results["abstention"] = {
        "calibrated_on_dev": chosen,
        "shipped_default": rule_figures(default),
        "test_with_default": on_split(relevance, default),
        "test_with_calibrated": on_split(relevance, config),
        **{f"test_{name}": on_split(relevance, rule) for name, rule in EARLIER_RULES.items()},
        **{f"{split}_{order.key}": on_split(earlier[order.key], order.rule, split)
           for order in EARLIER_ORDERS for split in HELD_OUT},
        **{f"{split}_with_default": on_split(relevance, default, split) for split in HELD_OUT[1:]},
        "holdout_passage_rule_before": on_split(relevance, EARLIER_RULES["passage_rule_before"], "holdout"),
        "holdout_evidence_only": on_split(relevance, EARLIER_RULES["evidence_only"], "holdout"),
        "unanswerable_answered_test": [asked.text for asked, r in zip(
            unanswerable_sets["test"], relevance["test"][1], strict=True) if judge(r, default).reason is None],
        "answerable_refused_test": [asked.text for asked, r in zip(
            sets["paraphrases test"], relevance["test"][0], strict=True) if judge(r, default).reason is not None],
    }
    print(f"abstention: {json.dumps(results['abstention'], indent=1)}")

    answerer = Answerer(sessions=sessions, embedder=embedder, generator=generator, config=AnsweringConfig(),
                        ranker=ranker)
    shipped_evidence = evidence_answerer(AbstentionConfig())
    earlier_evidence = {order.key: evidence_answerer(order.rule, order.rerank, order.ranked)
                        for order in EARLIER_ORDERS}
    test_questions = sets["paraphrases test"]
    for split in HELD_OUT:
        questions = sets[f"paraphrases {split}"]
        results[f"evidence_only_{split}"] = summarise_answers(run_questions(shipped_evidence, questions,
                                                                           is_gold=is_gold, gold_as_shown=True))
        for key, earlier_answerer in earlier_evidence.items():
            results[f"evidence_only_{split}_{key}"] = summarise_answers(run_questions(
                earlier_answerer, questions, is_gold=is_gold, gold_as_shown=True))
        print(f"evidence only ({split}): {results[f'evidence_only_{split}']}; "
              f"before the re-ranking: {results[f'evidence_only_{split}_before_rerank']}; "
              f"before the ranking model: {results[f'evidence_only_{split}_before_ranking']}")
    rows: list[dict[str, Any]] = []
    if answers:
        chosen_questions = spread(test_questions, answers) + spread(unanswerable_sets["test"], answers // 4)
        outcomes = run_questions(answerer, chosen_questions, is_gold=is_gold, gold_as_shown=True)
        results["answers_test"] = summarise_answers(outcomes)
        print(f"answers (test, default model): {results['answers_test']}")
        rows = outcome_rows(outcomes)
    return results, rows, relevance


def measure_relevance(answerer: Any, sets: dict[str, list[AskedQuestion]],
                      unanswerable_sets: dict[str, list[AskedQuestion]],
                      splits: tuple[str, ...] = ("dev", *HELD_OUT)) -> Splits:
    """The relevance figures of every answerable and unanswerable question of `splits`, as `answerer`
    (abstention off) measures them; judge() decides them again under any rule."""
    relevance = {}
    for split in splits:
        good = run_questions(answerer, sets[f"paraphrases {split}"], is_gold=is_gold, gold_as_shown=True)
        bad = run_questions(answerer, unanswerable_sets[split], is_gold=is_gold, gold_as_shown=True)
        # judge() keeps only a stored "no_passages" and decides every other reason again.
        relevance[split] = ([Relevance.from_json(o.relevance) for o in good],
                            [Relevance.from_json(o.relevance) for o in bad])
    return relevance


def on_split(relevance: Splits, rule: AbstentionConfig, split: str = "test") -> dict[str, Any]:
    """`rule`'s verdicts on one split's figures (the test split by default)."""
    good, bad = relevance[split]
    return asdict(abstention_figures([judge(r, rule) for r in good], [judge(r, rule) for r in bad]))


def joint_calibration(relevance: dict[str, Splits]) -> dict[str, Any]:
    """Thresholds calibrated on the dev splits of all the measured knowledge bases together (what the
    shipped default comes from: it must hold on a small team FAQ and on a whole documentation set),
    their test figures per knowledge base, and whether the shipped default equals them."""
    config, chosen = calibrate([splits["dev"] for splits in relevance.values()])
    return {"knowledge_bases": list(relevance), "calibrated_on_dev": chosen,
            "default_is_calibrated": rule_figures(AbstentionConfig()) == chosen,
            **{split: {name: on_split(splits, config, split) for name, splits in relevance.items()}
               for split in HELD_OUT},
            "blind_pooled": {name: pooled_with_intervals(splits, config, BLIND_ABSTENTION)
                             for name, splits in relevance.items()}}


def pooled_with_intervals(relevance: Splits, rule: AbstentionConfig, splits: tuple[str, ...]) -> dict[str, Any]:
    """`rule`'s verdicts on several splits' questions together, with the 95% Wilson interval of the
    answered and the refused share (what the figures can claim at this sample size), and how many of
    the answered ones of each kind were loose matches (bot/abstention.py `is_loose`)."""
    good = [judge(r, rule) for split in splits for r in relevance[split][0]]
    bad = [judge(r, rule) for split in splits for r in relevance[split][1]]
    answered = sum(r.reason is None for r in good)
    refused = sum(r.reason is not None for r in bad)
    return {"splits": list(splits), **asdict(abstention_figures(good, bad)),
            "answered_interval": wilson_interval(answered, len(good)),
            "refused_interval": wilson_interval(refused, len(bad)),
            "loose_answerable": sum(is_loose(r, rule) for r in good),
            "loose_unanswerable": sum(is_loose(r, rule) for r in bad),
            "answered_unanswerable": len(bad) - refused}


def _generator(**options: Any):  # type: ignore[no-untyped-def]
    from bot.generation import TransformersGenerator
    from bot.model_setup import default_model_dir

    return TransformersGenerator(default_model_dir(Path("var/models")), **options)


def ablations(sessions: sessionmaker[Session], embedder: Embedder, generator: Any,
              questions: list[AskedQuestion]) -> dict[str, dict[str, Any]]:
    """Published and raw F1 under generation settings that differ from the default in one way each."""
    from bench.whole_sequence_penalty import WholeSequencePenaltyGenerator
    from bot.answering import Answerer, AnsweringConfig

    base = AnsweringConfig()
    variants: dict[str, tuple[Any, AnsweringConfig]] = {
        "default (3 passages, 128 tokens, penalty on generated tokens only)": (generator, base),
        "penalty 1.15 on the whole sequence (before)": (WholeSequencePenaltyGenerator.wrap(generator, 1.15), base),
        "1 passage in the prompt": (generator, replace(base, prompt_passages=1)),
        "5 passages in the prompt": (generator, replace(base, prompt_passages=5)),
        "64 new tokens": (generator, replace(base, max_new_tokens=64)),
        "256 new tokens": (generator, replace(base, max_new_tokens=256)),
    }
    table = {}
    for name, (model, config) in variants.items():
        answerer = Answerer(sessions=sessions, embedder=embedder, generator=model, config=config)
        figures = summarise_answers(run_questions(answerer, questions, is_gold=is_gold, gold_as_shown=True))
        table[name] = {key: figures[key] for key in ("questions", "f1_raw_generation", "f1_published",
                                                      "generated_sentences", "generated_sentences_passing_check",
                                                      "invented_specifics", "median_final_ms")}
        print(f"ablation {name}: {table[name]}")
    return table


def write_results(results: dict[str, Any], rows: list[dict[str, Any]], out_dir: Path) -> None:
    """quality.json and its table quality.md (bench/readme_tables.py), the per-question rows, and the plot."""
    write_result("quality", results, out_dir / "quality.json")
    (out_dir / "quality_answers.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    plot_results(results, out_dir / "quality.png")


def plot_results(results: dict[str, Any], path: Path) -> None:
    """Retrieval (test paraphrases) and answer F1 per corpus, one row of two panels per corpus."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    named = list(results["corpora"].items())
    figure, grid = plt.subplots(len(named), 2, figsize=(13, 4.5 * len(named)), squeeze=False)
    metrics = ["hit_at_1", "hit_at_5", "hit_at_10", "mrr"]
    for (corpus_name, corpus), axes in zip(named, grid, strict=True):
        retrieval = corpus["retrieval"]
        names = list(retrieval)
        width = 0.8 / len(names)
        for index, name in enumerate(names):
            axes[0].bar([m + index * width for m in range(len(metrics))],
                        [retrieval[name]["paraphrases test"][metric] for metric in metrics], width, label=name)
        axes[0].set_xticks([m + 0.4 - width / 2 for m in range(len(metrics))], metrics)
        axes[0].set_ylim(0, 1)
        axes[0].set_title(f"{corpus_name}: retrieval, teammate-style paraphrases (test split)")
        axes[0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
        answers = corpus.get("answers_test") or corpus.get("evidence_only_test") or {}
        bars = {"top passage (baseline)": answers.get("f1_top_passage_baseline"),
                "raw generation": answers.get("f1_raw_generation"), "evidence only": answers.get("f1_evidence"),
                "published answer": answers.get("f1_published")}
        shown = {name: value for name, value in bars.items() if value is not None}
        axes[1].bar(list(shown), list(shown.values()), color=["#999", "#c55", "#59c", "#3a3"][:len(shown)])
        axes[1].set_ylim(0, 1)
        axes[1].set_title(f"{corpus_name}: token F1 against the gold FAQ answer (test split)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
