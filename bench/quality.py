"""Quality on real public data: retrieval hit@k/MRR and answer F1/citations on the Python FAQ.

The corpus is the whole Python 3.11 documentation (reStructuredText sources from Debian's
`python3.11-doc`, installed by this script when missing), ingested through the product's own ingest
path; each FAQ question is a query and its answer section the gold passage. Results go to
bench/results/quality.{json,md,png}.

Run: `python -m bench.quality [--answers 30] [--adapter DIR]` (retrieval over all questions takes
a few seconds once the corpus is ingested; ingesting ~8k chunks takes ~10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.answer_metrics import first_hit_rank, hit_at, mean_reciprocal_rank, overlap_share, token_scores
from bench.faq import DOC_SOURCES, FaqItem, load_faq
from knowledge.embedding import Embedder
from knowledge.schema import Chunk
from knowledge.search import search_passages
from knowledge.types import Passage

RESULTS_DIR = Path("bench/results")
GOLD_OVERLAP = 0.6
"""A passage counts as gold when it is in the question's section or mostly made of its words."""

MAX_SOURCE_BYTES = 5 * 1024 * 1024

SEARCH_VARIANTS: dict[str, dict[str, object]] = {
    "vector": {"mode": "vector"},
    "fulltext": {"mode": "fulltext"},
    "hybrid (text weight 1.0)": {"mode": "hybrid", "text_weight": 1.0},
    "hybrid (text weight 0.5)": {"mode": "hybrid", "text_weight": 0.5},
    "hybrid (text weight 0.25)": {"mode": "hybrid", "text_weight": 0.25},
}


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


@dataclass(frozen=True, slots=True)
class RetrievalScores:
    hit_at_1: float
    hit_at_5: float
    hit_at_10: float
    mrr: float
    p50_ms: float


def evaluate_retrieval(sessions: sessionmaker[Session], embedder: Embedder, items: list[FaqItem],
                       **search: object) -> RetrievalScores:
    ranks: list[int | None] = []
    latencies: list[float] = []
    for item in items:
        started = time.perf_counter()
        passages = search_passages(sessions, embedder, item.question, limit=10, **search)  # type: ignore[arg-type]
        latencies.append((time.perf_counter() - started) * 1000)
        ranks.append(first_hit_rank([is_gold(p, item) for p in passages]))
    latencies.sort()
    return RetrievalScores(hit_at(ranks, 1), hit_at(ranks, 5), hit_at(ranks, 10), mean_reciprocal_rank(ranks),
                           latencies[len(latencies) // 2] if latencies else 0.0)


@dataclass(frozen=True, slots=True)
class AnswerScores:
    questions: int
    precision: float
    recall: float
    f1: float
    citation_accuracy: float
    cited_share: float
    abstention_rate: float
    seconds_per_answer: float


def evaluate_answers(answerer, items: list[FaqItem]) -> AnswerScores:  # type: ignore[no-untyped-def]
    """Generate an answer per item and score it against the gold section."""
    from bot.answering import Question

    scores, cited_gold, cited_any, abstained = [], 0, 0, 0
    started = time.perf_counter()
    for item in items:
        result = answerer.answer(Question(text=item.question))
        if result.abstained:
            abstained += 1
        scores.append(token_scores(result.text, item.answer))
        cited = [c for c in result.citations if c.cited]
        if cited:
            cited_any += 1
            passages = _cited_passages(answerer, cited)
            cited_gold += any(is_gold(p, item) for p in passages)
    count = len(items) or 1
    return AnswerScores(
        questions=len(items), precision=sum(s.precision for s in scores) / count,
        recall=sum(s.recall for s in scores) / count, f1=sum(s.f1 for s in scores) / count,
        citation_accuracy=cited_gold / cited_any if cited_any else 0.0, cited_share=cited_any / count,
        abstention_rate=abstained / count, seconds_per_answer=(time.perf_counter() - started) / count)


def _cited_passages(answerer, citations) -> list[Passage]:  # type: ignore[no-untyped-def]
    with answerer._sessions() as session:  # noqa: SLF001 - the bench reads back what was cited
        rows = session.execute(select(Chunk.id, Chunk.heading, Chunk.text).where(
            Chunk.id.in_([c.chunk_id for c in citations]))).all()
    by_id = {row.id: row for row in rows}
    return [Passage(chunk_id=c.chunk_id, document_id=c.document_id, title=c.title, uri=c.uri,
                    heading=by_id[c.chunk_id].heading, text=by_id[c.chunk_id].text, score=0.0, scope="workspace")
            for c in citations if c.chunk_id in by_id]


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


def spread(items: list[FaqItem], count: int) -> list[FaqItem]:
    """`count` items spread evenly over the list (every FAQ page represented)."""
    if count >= len(items):
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def write_results(results: dict[str, object], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "quality.json").write_text(json.dumps(results, indent=2))
    lines = ["| search | hit@1 | hit@5 | hit@10 | MRR | p50 ms |", "|---|---|---|---|---|---|"]
    for name, scores in results["retrieval"].items():  # type: ignore[union-attr]
        lines.append(f"| {name} | {scores['hit_at_1']:.3f} | {scores['hit_at_5']:.3f} | {scores['hit_at_10']:.3f} "
                     f"| {scores['mrr']:.3f} | {scores['p50_ms']:.1f} |")
    if results.get("answers"):
        lines += ["", "| model | questions | precision | recall | F1 | citation accuracy | cited | abstained "
                      "| s/answer |", "|---|---|---|---|---|---|---|---|---|"]
        for name, scores in results["answers"].items():  # type: ignore[union-attr]
            lines.append(f"| {name} | {scores['questions']} | {scores['precision']:.3f} | {scores['recall']:.3f} "
                         f"| {scores['f1']:.3f} | {scores['citation_accuracy']:.3f} | {scores['cited_share']:.3f} "
                         f"| {scores['abstention_rate']:.3f} | {scores['seconds_per_answer']:.1f} |")
    (out_dir / "quality.md").write_text("\n".join(lines) + "\n")
    plot_results(results, out_dir / "quality.png")


def plot_results(results: dict[str, object], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    retrieval = results["retrieval"]
    names = list(retrieval)  # type: ignore[arg-type]
    metrics = ["hit_at_1", "hit_at_5", "hit_at_10", "mrr"]
    answers = results.get("answers") or {}
    figure, axes = plt.subplots(1, 2 if answers else 1, figsize=(13 if answers else 8, 4.5), squeeze=False)
    width = 0.8 / len(names)
    for index, name in enumerate(names):
        axes[0][0].bar([m + index * width for m in range(len(metrics))],
                       [retrieval[name][metric] for metric in metrics], width, label=name)  # type: ignore[index]
    axes[0][0].set_xticks([m + 0.4 - width / 2 for m in range(len(metrics))], metrics)
    axes[0][0].set_ylim(0, 1)
    axes[0][0].set_title(f"Retrieval on the Python FAQ ({results['questions']} questions)")
    axes[0][0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    if answers:
        answer_metrics = ["precision", "recall", "f1", "citation_accuracy", "cited_share", "abstention_rate"]
        width = 0.8 / len(answers)
        for index, name in enumerate(answers):
            axes[0][1].bar([m + index * width for m in range(len(answer_metrics))],
                           [answers[name][metric] for metric in answer_metrics], width, label=name)  # type: ignore[index]
        axes[0][1].set_xticks([m + 0.4 - width / 2 for m in range(len(answer_metrics))], answer_metrics, fontsize=8)
        axes[0][1].set_ylim(0, 1)
        axes[0][1].set_title("Answers (token overlap with the gold section)")
        axes[0][1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=30, help="questions to answer with the model (0: none)")
    parser.add_argument("--adapter", type=Path, help="a trained LoRA adapter folder to compare with the base model")
    parser.add_argument("--pg-data-dir", type=Path, default=Path("var/bench-quality-pg"))
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from knowledge.database import make_engine, make_session_factory, resolve_database_url
    from knowledge.embedding import SentenceTransformerEmbedder
    from knowledge.migrate import upgrade

    sources = ensure_doc_sources()
    url = resolve_database_url(os.environ.get("BENCH_DATABASE_URL"), args.pg_data_dir)
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    embedder = SentenceTransformerEmbedder()
    items = load_faq(sources)
    ingest = ingest_corpus(sessions, embedder, sources)
    print(f"corpus: {ingest['chunks']} chunks ({ingest['new_chunks']} new, {ingest['seconds']:.0f} s); "
          f"{len(items)} FAQ questions")
    retrieval = {}
    for name, search in SEARCH_VARIANTS.items():
        retrieval[name] = asdict(evaluate_retrieval(sessions, embedder, items, **search))
        scores = retrieval[name]
        print(f"{name:>26}: hit@1 {scores['hit_at_1']:.3f}  hit@5 {scores['hit_at_5']:.3f}  "
              f"hit@10 {scores['hit_at_10']:.3f}  MRR {scores['mrr']:.3f}  p50 {scores['p50_ms']:.1f} ms")
    results: dict[str, object] = {"questions": len(items), "corpus": ingest, "retrieval": retrieval, "answers": {}}
    if args.answers:
        results["answers"] = evaluate_models(sessions, embedder, spread(items, args.answers), args.adapter)
    write_results(results, args.out)
    print(f"wrote {args.out / 'quality.md'}, quality.json and quality.png")
    engine.dispose()


def evaluate_models(sessions: sessionmaker[Session], embedder: Embedder, items: list[FaqItem],
                    adapter: Path | None) -> dict[str, dict[str, float]]:
    from bot.answering import Answerer
    from bot.generation import TransformersGenerator
    from bot.model_setup import default_model_dir

    generator = TransformersGenerator(default_model_dir(Path("var/models")))
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=generator)
    scores = {"base": asdict(evaluate_answers(answerer, items))}
    print(f"answers (base): {scores['base']}")
    if adapter is not None:
        generator.use_adapter(adapter.name, adapter)
        scores[f"adapter {adapter.name}"] = asdict(evaluate_answers(answerer, items))
        print(f"answers (adapter {adapter.name}): {scores[f'adapter {adapter.name}']}")
    return scores


if __name__ == "__main__":
    main()
