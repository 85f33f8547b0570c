"""How often the summary support check publishes a sentence a reader judges faithful to the passages.

The support check (bot/support.py) decides by measurable proxies: content words found in the
passages, similarity to one passage unit. Whether a published sentence says what the passages say
takes a reader, so bench/data/summary_sentences.jsonl holds sentences the default model wrote when
answering the quality bench's FAQ paraphrases, each labelled faithful or not by hand (the labelling
rule is in bench/data/README.md). Only sentences the proxies decide are kept there: ones the
earlier tests drop whatever the thresholds (an invented command, a question, talk about the
question, a repeat of the quotes) are not.

Each labelled sentence's question is prepared again on the quality bench's FAQ knowledge base
(bench/quality.py, var/bench-faq-pg: search, re-ranking by the ranking model and best unit, unit
scores, evidence, exactly what the answer shows now before its summary) and the sentence is checked
over the prompt's passages under the shipped rule and under the rules before it, in the same run.
Per split (`dev`: the thresholds were chosen there; `test`: labelled before that choice and read
after it, and read again when its three faithless published sentences led to the one-passage rule
and to scoped names as specifics; `holdout2`: 48 sentences of 41 answers to the blind second
holdout's paraphrases, written by the model and labelled after that rule was written and before any
rule's verdict on them was read): sentences published, how many of them are faithful (precision),
and how many of the faithful ones are published (recall). Small samples: a handful of faithful
sentences per split. Every rule here shares the specifics test as shipped (a scoped name such as
`PyObject::CallMethod` must occur whole).

Run: `python -m bench.support_labels`; writes bench/results/support_labels.json and its table.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.readme_tables import write_result

LABELS = Path(__file__).parent / "data" / "summary_sentences.jsonl"
RESULTS = Path("bench/results/support_labels.json")


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelledSentence:
    """A sentence the default model wrote answering `question`, judged by a reader."""

    split: str
    question: str
    sentence: str
    faithful: bool
    """True when the passages say (or plainly imply) what the sentence states and it states something."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleFigures:
    """One rule's verdicts on one split's labelled sentences."""

    sentences: int
    faithful: int
    published: int
    published_faithful: int
    precision: float | None
    """Faithful share of what the rule publishes (None when it publishes nothing)."""
    recall: float | None
    """Published share of the faithful sentences (None without faithful sentences)."""


def load_labels(path: Path = LABELS) -> list[LabelledSentence]:
    """The labelled sentences, in file order."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [LabelledSentence(split=row["split"], question=row["question"], sentence=row["sentence"],
                             faithful=bool(row["faithful"])) for row in rows]


def rule_figures(labels: list[LabelledSentence], published: list[bool]) -> RuleFigures:
    """Precision and recall of `published` (one verdict per label) against the readers' labels."""
    faithful = sum(label.faithful for label in labels)
    chosen = sum(published)
    right = sum(label.faithful and verdict for label, verdict in zip(labels, published, strict=True))
    return RuleFigures(sentences=len(labels), faithful=faithful, published=chosen, published_faithful=right,
                       precision=round(right / chosen, 4) if chosen else None,
                       recall=round(right / faithful, 4) if faithful else None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from bench.quality import _corpus_database, corpora, ensure_doc_sources, ingest_corpus
    from bench.shipped import configured_ranker
    from bot.answering import Answerer, AnsweringConfig, Question
    from bot.support import SupportConfig
    from knowledge.embedding import SentenceTransformerEmbedder
    from knowledge.passage_ranking import rank_missing
    from tests.scripted_generator import ScriptedGenerator

    rules = {"shipped": SupportConfig(),
             "before (content words 0.75 from all the prompt's passages together, similarity 0.7)":
                 SupportConfig(one_passage=False),
             "earlier (content words 0.85 alone, or 0.6 with similarity 0.5, all passages together)":
                 SupportConfig(min_lexical=0.6, min_similarity=0.5, strong_lexical=0.85, one_passage=False)}
    labels = load_labels()
    corpus = corpora(ensure_doc_sources())["faq"]
    engine, sessions = _corpus_database(corpus)
    embedder = SentenceTransformerEmbedder()  # the quality bench's embedder, which the sentences were written with
    ingest_corpus(sessions, embedder, corpus.sources)
    # The model is never called: prepare() stops at the evidence, the check embeds with the embedder.
    # The passages are those the shipped answers read: the ranking model re-orders them (every FAQ
    # chunk ranked first, as `kbbot kb add` does).
    ranker = configured_ranker()
    if ranker is not None:
        rank_missing(sessions, ranker)
    answerer = Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator("unused"),
                        config=AnsweringConfig(), ranker=ranker)
    verdicts: dict[str, list[bool]] = {name: [] for name in rules}
    not_answered: list[str] = []
    prepared_by_question: dict[str, Any] = {}
    for label in labels:
        prepared = prepared_by_question.get(label.question)
        if prepared is None:
            prepared = prepared_by_question[label.question] = answerer.prepare(Question(text=label.question))
        if prepared.outcome is None:  # abstained now: nothing would be summarised
            not_answered.append(label.question)
            for name in rules:
                verdicts[name].append(False)
            continue
        shown = prepared.ranked[:answerer.config.prompt_passages]
        for name, config in rules.items():
            checker = answerer.support_checker(prepared.text, shown, already_shown=prepared.outcome.published,
                                               config=config)
            verdicts[name].append(all(verdict.supported for verdict in checker.check(label.sentence)))
    engine.dispose()
    splits = sorted({label.split for label in labels})
    results: dict[str, Any] = {
        "labels": str(LABELS), "sentences": len(labels),
        "rules": {name: asdict(config) for name, config in rules.items()},
        "ranking_model": ranker.model_name if ranker is not None else None,
        "questions_not_answered_now": sorted(set(not_answered)),
        "figures": {name: {split: asdict(rule_figures(
            [label for label in labels if label.split == split],
            [verdict for label, verdict in zip(labels, verdicts[name], strict=True) if label.split == split]))
            for split in splits} for name in rules},
    }
    for name, by_split in results["figures"].items():
        for split, figures in by_split.items():
            print(f"{name:>62} {split:>5}: published {figures['published']:>2} of {figures['sentences']}, "
                  f"faithful {figures['published_faithful']} (precision {figures['precision']}), "
                  f"{figures['published_faithful']} of {figures['faithful']} faithful published")
    write_result("support_labels", results, args.out)


if __name__ == "__main__":
    main()
