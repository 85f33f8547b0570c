"""Which relevance figures tell answerable from unanswerable questions, and would a learned rule do better?

The shipped abstention (bot/abstention.py) thresholds one figure: the mean of the best passage's
similarity and the best evidence unit's score, with a higher bar when the question names something no
document mentions. On the quality bench's fresh blind holdouts it answers and refuses too little of
what it should (bench/results/quality.json), so this bench measures the candidates for a better rule
on the sets that are no longer blind, and keeps the blind ones (`holdout3`, `holdout4`) out, so that
a rule chosen here can still be confirmed on them:

* the AUC of each figure the answer row keeps (passage similarity, evidence score, their mean, the
  ranking model's score of the top passage, key-term coverage) on each (knowledge base, set);
* a logistic regression on those figures plus the unknown names' count and share, fitted with each
  (knowledge base, set) left out in turn and thresholded to answer ≥ 95% of the answerable training
  questions of each knowledge base (what `calibrate` asks of the shipped rule), against the shipped
  rule on the same questions. The shipped rule's figures are not cross-validated (its thresholds
  were calibrated on `dev`, and its design read the other sets), so where the two tie the learned
  rule is the more honest figure.
* of the questions the shipped rule answers, how the **loose matches** (deciding figure within a
  margin of its bar: the answer says the documents match only loosely) and the clear answers divide
  into right (the question's own section is the first source), another section first, and
  unanswerable, for a few margins (`loose_matches`; the shipped `loose_margin` was chosen on them).

Both knowledge bases of the quality bench (`faq`, `docs`; their databases are reused, so run
`python -m bench.quality` once first). Run: `python -m bench.abstention_features`; writes
bench/results/abstention_features.{json,md}.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.answer_quality import run_questions
from bench.question_sets import AskedQuestion
from bench.readme_tables import write_result
from bot.abstention import AbstentionConfig, Relevance, is_loose, judge
from bot.unit_scoring import key_terms

RESULTS = Path("bench/results/abstention_features.json")
LOOSE_MARGINS = (0.03, 0.06, 0.1)
"""The loose-match margins measured (the shipped one among them)."""
NON_BLIND = ("dev", "test", "holdout", "holdout2")
"""The sets this bench reads: every one a choice was already made on (bench/question_sets.py)."""
MIN_ANSWERED = 0.95


def features(relevance: Relevance, question: str) -> list[float]:
    """What the learned rule reads of one question: the answer row's figures (the ranking model's
    included: 0 when the order did not read it), the unknown names' count (up to 3) and share of the
    question's key terms, and how many key terms it has (up to 20)."""
    unknown = len(relevance.unknown)
    terms = len(set(key_terms(question)))
    mean = (relevance.top_similarity + relevance.evidence_score) / 2
    ranking = relevance.ranking
    return [relevance.top_similarity, relevance.evidence_score, ranking.score if ranking else 0.0,
            ranking.best if ranking else 0.0, (ranking.margin or 0.0) if ranking else 0.0, float(min(unknown, 3)),
            float(unknown > 0), unknown / max(1, terms), relevance.coverage, mean * float(unknown > 0),
            min(terms, 20) / 20]


FEATURE_NAMES = ("passage similarity", "evidence score", "ranking score", "best ranking score", "ranking margin",
                 "unknown names (≤ 3)", "any unknown name", "unknown share of key terms", "key-term coverage",
                 "mean × any unknown name", "key terms (≤ 20)")
SINGLE_FIGURES: dict[str, Callable[[Relevance], float]] = {
    "mean (shipped figure)": lambda r: (r.top_similarity + r.evidence_score) / 2,
    "passage similarity": lambda r: r.top_similarity,
    "evidence score": lambda r: r.evidence_score,
    "ranking score": lambda r: r.ranking.score if r.ranking else 0.0,
    "key-term coverage": lambda r: r.coverage,
}


def auc(answerable: Sequence[float], unanswerable: Sequence[float]) -> float:
    """The chance that an answerable question scores above an unanswerable one (ties count half)."""
    if not answerable or not unanswerable:
        return 0.5
    good, bad = np.asarray(answerable)[:, None], np.asarray(unanswerable)[None, :]
    return round(float(((good > bad) + 0.5 * (good == bad)).mean()), 3)


Group = tuple[str, str]
"""(knowledge base, set)."""
Labelled = dict[Group, tuple[list[list[float]], list[bool]]]


def learned_rule_figures(labelled: Labelled, min_answered: float = MIN_ANSWERED) -> dict[Group, dict[str, Any]]:
    """Per group, the logistic regression fitted on every other group, thresholded so that it answers
    ≥ `min_answered` of each knowledge base's answerable training questions, judged on the group."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    figures = {}
    for held_out in labelled:
        train = [(x, y, group[0]) for group, (xs, ys) in labelled.items() if group != held_out
                 for x, y in zip(xs, ys, strict=True)]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        model.fit(np.array([x for x, _, _ in train]), np.array([y for _, y, _ in train]))
        probability = model.predict_proba(np.array([x for x, _, _ in train]))[:, 1]
        bars = []
        for base in {base for _, _, base in train}:
            answerable = np.sort([p for p, (_, y, b) in zip(probability, train, strict=True) if y and b == base])
            bars.append(float(answerable[int(np.floor(len(answerable) * (1 - min_answered)))]))
        bar = min(bars)
        xs, ys = labelled[held_out]
        answered = model.predict_proba(np.array(xs))[:, 1] >= bar
        figures[held_out] = _shares([a for a, y in zip(answered, ys, strict=True) if y],
                                    [a for a, y in zip(answered, ys, strict=True) if not y])
    return figures


def _shares(answerable_answered: Sequence[bool], unanswerable_answered: Sequence[bool]) -> dict[str, Any]:
    return {"answerable_answered": round(float(np.mean(answerable_answered)), 4),
            "unanswerable_refused": round(1 - float(np.mean(unanswerable_answered)), 4),
            "answerable": len(answerable_answered), "unanswerable": len(unanswerable_answered)}


def measure(knowledge_bases: Sequence[str]) -> dict[str, Any]:
    """Every non-blind question's relevance figures on each knowledge base, then the figures' AUCs and
    the learned rule against the shipped one."""
    from bench import quality
    from bench.faq import load_faq
    from bench.shipped import shipped_ranker
    from bot.answering import Answerer, AnsweringConfig
    from knowledge.embedding import SentenceTransformerEmbedder
    from tests.scripted_generator import ScriptedGenerator

    sources = quality.ensure_doc_sources()
    items = load_faq(sources)
    sets = quality.question_sets(items)
    answerable = {split: sets[0][f"paraphrases {split}"] for split in NON_BLIND}
    unanswerable = {split: sets[1][split] for split in NON_BLIND}
    embedder = SentenceTransformerEmbedder()
    ranker = shipped_ranker("the abstention-features bench")
    labelled: Labelled = {}
    labelled_by_base: dict[str, list[LabelledQuestion]] = {}
    relevance_by_group: dict[Group, tuple[list[Relevance], list[Relevance]]] = {}
    for name in knowledge_bases:
        engine, sessions = quality._corpus_database(quality.corpora(sources)[name])
        every: list[AskedQuestion] = [q for split in NON_BLIND for q in (*answerable[split], *unanswerable[split])]
        print(f"{name}: ranking model {quality.rank_candidates(sessions, embedder, ranker, every)}")
        answerer = Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator("unused"), ranker=ranker,
                            config=AnsweringConfig(summarise=False, abstention=quality.PERMISSIVE))
        measured = {split: (run_questions(answerer, answerable[split], is_gold=quality.is_gold),
                            run_questions(answerer, unanswerable[split], is_gold=quality.is_gold))
                    for split in NON_BLIND}
        engine.dispose()
        for split, (good_outcomes, bad_outcomes) in measured.items():
            good = [Relevance.from_json(o.relevance) for o in good_outcomes]
            bad = [Relevance.from_json(o.relevance) for o in bad_outcomes]
            labelled_by_base.setdefault(name, []).extend(
                [LabelledQuestion(r, "right" if o.gold_rank == 1 else "other") for r, o in zip(good, good_outcomes,
                                                                                               strict=True)]
                + [LabelledQuestion(r, "unanswerable") for r in bad])
            questions = [q.text for q in (*answerable[split], *unanswerable[split])]
            figures = [*good, *bad]
            labelled[(name, split)] = ([features(r, q) for r, q in zip(figures, questions, strict=True)],
                                       [True] * len(good) + [False] * len(bad))
            relevance_by_group[(name, split)] = (list(good), list(bad))
    shipped = AbstentionConfig()
    learned = learned_rule_figures(labelled)
    groups = []
    for group, (good, bad) in relevance_by_group.items():
        groups.append({
            "knowledge_base": group[0], "set": group[1],
            "auc": {figure: auc([read(r) for r in good], [read(r) for r in bad])
                    for figure, read in SINGLE_FIGURES.items()},
            "shipped_rule": _shares([judge(r, shipped).reason is None for r in good],
                                    [judge(r, shipped).reason is None for r in bad]),
            "learned_rule": learned[group],
        })
        print(groups[-1])
    loose = {base: loose_matches(questions, shipped) for base, questions in labelled_by_base.items()}
    print(loose)
    return {"sets": list(NON_BLIND), "features": list(FEATURE_NAMES), "min_answered": MIN_ANSWERED,
            "shipped_rule": {"min_score": shipped.min_score, "unknown_score": shipped.unknown_score,
                             "loose_margin": shipped.loose_margin},
            "groups": groups, "means": _means(groups), "loose_matches": loose}


@dataclass(frozen=True, slots=True)
class LabelledQuestion:
    """A question's relevance figures and its label: `right` (an answerable question whose own section is
    the first source), `other` (answerable, another section first) or `unanswerable`."""

    relevance: Relevance
    label: str


def loose_matches(questions: Sequence[LabelledQuestion], rule: AbstentionConfig,
                  margins: Sequence[float] = LOOSE_MARGINS) -> dict[str, Any]:
    """Of the questions `rule` answers, how the loose matches (deciding figure within a margin of its
    bar) and the clear ones divide into right, other and unanswerable, for each margin in `margins`:
    the figure behind the shipped `loose_margin` (bot/abstention.py)."""
    by_margin: dict[str, dict[str, dict[str, Any]]] = {}
    for margin in margins:
        with_margin = replace(rule, loose_margin=margin)
        counts = {kind: {"right": 0, "other": 0, "unanswerable": 0} for kind in ("loose", "clear")}
        for question in questions:
            judged = judge(question.relevance, with_margin)
            if judged.reason is None:
                counts["loose" if is_loose(judged, with_margin) else "clear"][question.label] += 1
        by_margin[f"{margin:g}"] = {kind: {**count, "answered": sum(count.values()),
                                           "right_share": round(count["right"] / max(1, sum(count.values())), 3)}
                                    for kind, count in counts.items()}
    return by_margin


def _means(groups: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per knowledge base and rule, the mean answered and refused shares over its sets."""
    means: dict[str, dict[str, dict[str, float]]] = {}
    for base in dict.fromkeys(g["knowledge_base"] for g in groups):
        mine = [g for g in groups if g["knowledge_base"] == base]
        means[base] = {rule: {share: round(float(np.mean([g[rule][share] for g in mine])), 4)
                              for share in ("answerable_answered", "unanswerable_refused")}
                       for rule in ("shipped_rule", "learned_rule")}
    return means


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", choices=["faq", "docs"], default=["faq", "docs"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = measure(args.corpora)
    write_result("abstention_features", results, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
