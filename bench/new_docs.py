"""Another project's documentation as a new team adds it: do the answers come from the right section?

pip's own docs, as Debian's `python3-pip` installs them (`/usr/share/doc/python3-pip/html`: MyST
Markdown and reStructuredText, half of it gzip-compressed), are added through the product's own
ingest (what `kbbot kb add <folder>` runs) into a bench database, then the 43 questions of
bench/data/pip_questions.jsonl are answered by the product's answering pipeline with its shipped
defaults (first stage, re-ranking, abstention, evidence), summaries off (the quoted evidence is the
answer the product shows first, and the model is not what this measures):

* retrieval: hit@1/5/10 and MRR of the answer's sources in the order it cites them (the top 20
  re-ranked by the ranking model and best unit, after `kbbot kb add`'s ranking pass), and in the same
  run the top 10 re-ranked the same way (before the top 20), by best unit alone (before the ranking
  model) and the first stage alone (the order before any re-ranking);
* answers to the 35 answerable questions: answered or abstained; an answered one is **from the right
  section** when its first quote's passage is a gold passage, **right section quoted** when any
  quote is, and **wrong section only** when none is (the failure a reader cannot see: real quotes,
  real citations, another topic);
* the 8 questions the docs do not answer: refused or answered.

Small and written by the developer (not blind; see bench/data/README.md): figures for a new corpus
and markup, not for tuning.

Run: `python -m bench.new_docs [--docs PATH]`; writes bench/results/new_docs.json and its table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.answer_metrics import first_hit_rank
from bench.answer_quality import retrieval_figures
from bench.machine import machine_at_end, machine_at_start
from bench.readme_tables import write_result
from store.types import Passage

RESULTS = Path("bench/results/new_docs.json")
PIP_DOCS = Path("/usr/share/doc/python3-pip/html")
QUESTIONS = Path("bench/data/pip_questions.jsonl")
TOP = 10


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    """`{"question", "gold": [{"file", "heading"}]}` per line; an empty `gold` marks an unanswerable one."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def is_gold(passage: Passage, gold: list[dict[str, str]]) -> bool:
    """Whether the passage comes from one of the gold sections (its source's file, its heading path's part)."""
    heading = (passage.heading or "").lower()
    return any(passage.uri.endswith(g["file"]) and g["heading"].lower() in heading for g in gold)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=PIP_DOCS, help="pip's html docs folder (Debian's python3-pip)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.docs.is_dir():
        raise SystemExit(f"{args.docs} is missing: install Debian's python3-pip package (apt-get install python3-pip)")

    from bench.database import docs_knowledge_base
    from bench.shipped import RERANK_DEPTH_BEFORE as DEPTH_BEFORE
    from bench.shipped import shipped_ranker
    from bot.answering import Answerer, AnsweringConfig, Question
    from bot.reranking import RerankConfig
    from knowledge.passage_ranking import rank_missing
    from tests.scripted_generator import ScriptedGenerator

    machine = machine_at_start()
    sessions, embedder, backend, report = docs_knowledge_base("new-docs", args.docs)
    ranking_model = shipped_ranker("the new-docs bench")
    started = time.perf_counter()
    ranked = rank_missing(sessions, ranking_model)  # what `kbbot kb add` does after storing the documents
    ranking = {"model": ranking_model.model_name, "chunks": ranked, "seconds": round(time.perf_counter() - started, 1)}
    print(f"ranking model: {ranking}")
    questions = load_questions()
    shipped = Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator("unused"),
                       config=AnsweringConfig(summarise=False), ranker=ranking_model)
    depth = RerankConfig().depth
    shallower = AnsweringConfig(passages=TOP, summarise=False, rerank=RerankConfig(depth=DEPTH_BEFORE))
    order = {f"top {depth} re-ranked by the ranking model and best unit (shipped)": (
                 AnsweringConfig(passages=TOP, summarise=False), ranking_model),
             f"top {DEPTH_BEFORE} re-ranked by the ranking model and best unit (before the top {depth})": (
                 shallower, ranking_model),
             f"top {DEPTH_BEFORE} re-ranked by best unit (before the ranking model)": (shallower, None),
             "first stage (before the re-ranking)": (AnsweringConfig(passages=TOP, summarise=False,
                                                                     rerank=RerankConfig(depth=0)), None)}
    answerable = [q for q in questions if q["gold"]]
    retrieval: dict[str, dict[str, float]] = {}
    for name, (config, order_ranker) in order.items():
        ranker = Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator("unused"), config=config,
                          ranker=order_ranker)
        ranks = []
        for item in answerable:
            text = item["question"]
            found = ranker.find(Question(text=text), text, text, embedder.embed_query(text))[0]
            ranks.append(first_hit_rank([is_gold(passage, item["gold"]) for passage in found]))
        retrieval[name] = {key: round(value, 3) for key, value in retrieval_figures(ranks).items()}
        print(f"{name}: {retrieval[name]}")
    rows, counts = [], {"answered": 0, "abstained": 0, "first_quote_right": 0, "right_quoted": 0,
                        "wrong_only": 0, "unanswerable_refused": 0, "unanswerable_answered": 0}
    for item in questions:
        result = shipped.answer(Question(text=item["question"]))
        quoted = [result.passages[quote.number - 1] for quote in result.evidence
                  if 0 < quote.number <= len(result.passages)]
        right = [is_gold(passage, item["gold"]) for passage in quoted]
        if not item["gold"]:
            counts["unanswerable_refused" if result.abstained else "unanswerable_answered"] += 1
        elif result.abstained:
            counts["abstained"] += 1
        else:
            counts["answered"] += 1
            counts["first_quote_right"] += bool(right and right[0])
            counts["right_quoted"] += any(right)
            counts["wrong_only"] += not any(right)
        rows.append({"question": item["question"], "answerable": bool(item["gold"]), "abstained": result.abstained,
                     "quoted": [f"{p.uri.rsplit('/', 1)[-1]} § {p.heading}" for p in quoted], "right": right,
                     "relevance": result.relevance.as_json() if result.relevance else None})
    print(counts)
    results = {"documents": len(report.results), "failed": len(report.failures), "skipped": len(report.skipped),
               "answerable": len(answerable), "unanswerable": len(questions) - len(answerable),
               "embedding_backend": backend, "ranking_model": ranking, "retrieval": retrieval, "answers": counts,
               "questions": rows,
               "machine": machine_at_end(machine)}
    print(f"wrote {write_result('new_docs', results, args.out)}")


if __name__ == "__main__":
    main()
