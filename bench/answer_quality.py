"""Answer-layer measurements: evidence, checked summary, abstention, against gold FAQ answers.

Each function runs questions through the product's own `Answerer` (retrieval, abstention,
evidence, generation, support check) and scores what came out. Token F1 follows
bench/answer_metrics.py; citation markers and quote marks are removed before scoring so the figure
measures words, not formatting.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import product

from bench.answer_metrics import first_hit_rank, hit_at, mean_reciprocal_rank, token_scores
from bench.question_sets import AskedQuestion
from bot.abstention import AbstentionConfig, DecidingFigure, Relevance, judge
from bot.answering import SUMMARY_HEADING, Answerer, AnswerResult, Question
from bot.support import Sources, passage_source

_MARKUP = re.compile(r"\[\d{1,3}(?:\s*,\s*\d{1,3})*\]|^> |^• |```\w*", re.MULTILINE)
BASELINE_WORDS = 120
"""The issue's baseline: the opening ~120 words of the top retrieved passage, shown as they are."""


def plain(text: str) -> str:
    """Answer text without citation markers, quote marks, bullets, fences or the summary heading."""
    return _MARKUP.sub(" ", text.replace(SUMMARY_HEADING, " "))


def opening_words(text: str, count: int = BASELINE_WORDS) -> str:
    return " ".join(text.split()[:count])


@dataclass(slots=True)
class QuestionOutcome:
    """One question's figures (kept per question in the results for audit)."""

    question: str
    kind: str
    gold_rank: int | None
    abstained: bool
    abstain_reason: str | None
    relevance: dict[str, object]
    f1_evidence: float | None = None
    f1_published: float | None = None
    f1_raw: float | None = None
    f1_baseline: float | None = None
    f1_evidence_source: float | None = None
    """Evidence F1 against the gold section's source markup (only when scored against the shown answer)."""
    f1_baseline_source: float | None = None
    sentences: int = 0
    supported: int = 0
    invented: list[str] = field(default_factory=list)
    first_text_ms: float | None = None
    final_ms: float | None = None


def invented_specifics(result: AnswerResult, question: str) -> list[str]:
    """URLs, commands, identifiers, paths and numbers in the published text found in neither passages nor question."""
    sources = Sources([question, *(passage_source(p) for p in result.passages)])
    return sources.missing(result.text.replace(SUMMARY_HEADING, " "))


def run_questions(answerer: Answerer, questions: Sequence[AskedQuestion], *, is_gold,  # type: ignore[no-untyped-def]
                  gold_as_shown: bool = False) -> list[QuestionOutcome]:
    """Answer every question (as configured: evidence only or with a summary) and score it.

    `gold_as_shown` scores against the gold answer as a reader sees it (FaqItem.shown_answer) and
    keeps the evidence's and the baseline's F1 against the source markup beside it; otherwise the
    source is the gold (what the generation and learning benches have always scored against).
    """
    outcomes = []
    for asked in questions:
        started = time.perf_counter()
        result = answerer.answer(Question(text=asked.text))
        final_ms = (time.perf_counter() - started) * 1000
        passages = result.passages
        gold_rank = first_hit_rank([is_gold(p, asked.item) for p in passages]) if asked.item else None
        relevance = result.relevance.as_json() if result.relevance else {}
        outcome = QuestionOutcome(question=asked.text, kind=asked.kind, gold_rank=gold_rank,
                                  abstained=result.abstained, abstain_reason=result.abstain_reason,
                                  relevance=relevance, first_text_ms=result.first_text_ms, final_ms=final_ms)
        if asked.item is not None:
            gold = asked.item.shown_answer() if gold_as_shown else asked.item.answer
            evidence = plain("\n".join(quote.text for quote in result.evidence))
            baseline = opening_words(passages[0].text) if passages else None
            outcome.f1_evidence = token_scores(evidence, gold).f1 if not result.abstained else 0.0
            outcome.f1_published = token_scores(plain(result.text), gold).f1 if not result.abstained else 0.0
            outcome.f1_raw = token_scores(plain(result.raw_completion), gold).f1 if result.raw_completion else None
            if baseline is not None:
                outcome.f1_baseline = token_scores(baseline, gold).f1
            if gold_as_shown:
                source = asked.item.answer
                outcome.f1_evidence_source = token_scores(evidence, source).f1 if not result.abstained else 0.0
                outcome.f1_baseline_source = token_scores(baseline, source).f1 if baseline is not None else None
        outcome.sentences = sum(1 for v in result.verdicts if v.kind != "code")
        outcome.supported = sum(1 for v in result.verdicts if v.supported and v.kind != "code")
        # An abstention is the bot's own fixed message; only answers can invent.
        outcome.invented = [] if result.abstained else invented_specifics(result, asked.text)
        outcomes.append(outcome)
    return outcomes


def _mean(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(sum(present) / len(present), 4) if present else None


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(statistics.median(present), 1) if present else None


def summarise_answers(outcomes: Sequence[QuestionOutcome]) -> dict[str, object]:
    """Means over answerable questions (abstentions score 0) plus support and timing figures."""
    answerable = [o for o in outcomes if o.f1_published is not None]
    sentences = sum(o.sentences for o in outcomes)
    return {
        "questions": len(answerable),
        "f1_published": _mean([o.f1_published for o in answerable]),
        "f1_evidence": _mean([o.f1_evidence for o in answerable]),
        "f1_raw_generation": _mean([o.f1_raw for o in answerable]),
        "f1_top_passage_baseline": _mean([o.f1_baseline for o in answerable]),
        "f1_evidence_against_source": _mean([o.f1_evidence_source for o in answerable]),
        "f1_top_passage_baseline_against_source": _mean([o.f1_baseline_source for o in answerable]),
        "answered_share": round(sum(not o.abstained for o in answerable) / len(answerable), 4) if answerable else None,
        "f1_published_when_answered": _mean([o.f1_published for o in answerable if not o.abstained]),
        "f1_baseline_when_answered": _mean([o.f1_baseline for o in answerable if not o.abstained]),
        "generated_sentences": sentences,
        "published_sentences": sum(o.supported for o in outcomes),
        "published_sentences_supported_share": 1.0 if sentences else None,
        "generated_sentences_passing_check": round(sum(o.supported for o in outcomes) / sentences, 4)
        if sentences else None,
        "invented_specifics": sum(len(o.invented) for o in outcomes),
        "invented_examples": sorted({item for o in outcomes for item in o.invented})[:10],
        "median_first_text_ms": _median([o.first_text_ms for o in outcomes]),
        "median_final_ms": _median([o.final_ms for o in outcomes]),
    }


def retrieval_figures(ranks: Sequence[int | None]) -> dict[str, float]:
    return {"hit_at_1": round(hit_at(ranks, 1), 4), "hit_at_5": round(hit_at(ranks, 5), 4),
            "hit_at_10": round(hit_at(ranks, 10), 4), "mrr": round(mean_reciprocal_rank(ranks), 4)}


@dataclass(frozen=True, slots=True)
class AbstentionFigures:
    answerable_answered: float
    unanswerable_refused: float
    precision: float
    """Of the refusals, the share that were unanswerable."""
    recall: float
    """Of the unanswerable questions, the share refused (= unanswerable_refused)."""
    answerable: int
    unanswerable: int


def abstention_figures(answerable: Sequence[Relevance], unanswerable: Sequence[Relevance]) -> AbstentionFigures:
    refused_good = sum(r.reason is not None for r in answerable)
    refused_bad = sum(r.reason is not None for r in unanswerable)
    refusals = refused_good + refused_bad
    return AbstentionFigures(
        answerable_answered=round(1 - refused_good / len(answerable), 4) if answerable else 0.0,
        unanswerable_refused=round(refused_bad / len(unanswerable), 4) if unanswerable else 0.0,
        precision=round(refused_bad / refusals, 4) if refusals else 1.0,
        recall=round(refused_bad / len(unanswerable), 4) if unanswerable else 0.0,
        answerable=len(answerable), unanswerable=len(unanswerable))


LabelledRelevance = tuple[Sequence[Relevance], Sequence[Relevance]]
"""One knowledge base's measured figures: the answerable questions', then the unanswerable ones'."""


def calibrate(knowledge_bases: Sequence[LabelledRelevance], *, min_answered: float = 0.95,
              figure: DecidingFigure | None = None) -> tuple[AbstentionConfig, dict[str, object]]:
    """The thresholds that answer ≥ `min_answered` of the answerable questions on every knowledge base
    and, among those, refuse the most unanswerable ones on the worst of them (then on all together).

    Works on the relevance figures already measured (evidence score, top similarity, unknown terms,
    coverage), so the sweep costs no retrieval. Ties go to the loosest thresholds. `figure`: the
    relevance figure judged (default: the shipped rule's).
    """
    figure = figure or AbstentionConfig().figure
    best: tuple[tuple[float, ...], AbstentionConfig] | None = None
    scores = [round(0.25 + 0.01 * i, 2) for i in range(41)]
    for score, unknown_score, share in product(scores, [*scores, 0.7, 0.8, 1.01, 1.5], [0.0, 0.3, 0.4, 0.5, 0.6]):
        if unknown_score < score:
            continue
        config = AbstentionConfig(min_score=score, unknown_score=unknown_score, min_coverage=share, figure=figure)
        figures = [abstention_figures([judge(r, config) for r in good], [judge(r, config) for r in bad])
                   for good, bad in knowledge_bases]
        if min(f.answerable_answered for f in figures) < min_answered:
            continue
        key = (min(f.unanswerable_refused for f in figures), sum(f.unanswerable_refused for f in figures),
               min(f.answerable_answered for f in figures), -unknown_score, -share)
        if best is None or key > best[0]:
            best = (key, config)
    if best is None:
        return AbstentionConfig(figure=figure), {
            "note": f"no threshold answers {min_answered:.0%} of the answerable questions"}
    config = best[1]
    return config, rule_figures(config)


def rule_figures(config: AbstentionConfig) -> dict[str, object]:
    """A rule's thresholds as the results record them."""
    return {"figure": config.figure, "min_score": config.min_score, "unknown_score": config.unknown_score,
            "min_coverage": config.min_coverage}


def outcome_rows(outcomes: Sequence[QuestionOutcome]) -> list[dict[str, object]]:
    return [asdict(o) for o in outcomes]
