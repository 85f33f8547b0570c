"""Decide when to say "not in the documents" instead of answering (pure).

Two tests, because one is not enough (measured on answerable vs unanswerable questions, see
bench/quality.py and the `abstention` section of bench/results/quality.json):

1. **Relevance**: the best passage's cosine similarity to the question (in every search mode)
   must reach `min_similarity`. A threshold alone lets through in-vocabulary near-misses ("how do I
   squash Django migrations?" lands on Python's own packaging pages at 0.5+).
2. **Coverage**: the question's key terms (content stems, bot/lexicon.py) must be found in the
   top passages (text, heading or title). A question about a thing the passages never name
   (Django, pandas, the office wifi) fails it however similar the surrounding words are. Both
   the share covered and the number of key terms missing count: a long question may miss a
   filler word, a short one may not miss its subject.

Thresholds were calibrated on the development half of the bench's question sets and are reported
on the other half.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.lexicon import coverage, term_set
from bot.unit_scoring import ScoredPassage, key_terms

AbstainReason = Literal["no_passages", "low_score", "not_covered", "no_evidence"]
"""no_evidence: the passages hold nothing quotable (no sentence, item or code block)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AbstentionConfig:
    """Thresholds of the two tests.

    Attributes:
        min_similarity: least cosine similarity of the best passage.
        min_coverage: least share of the question's key terms found in the top passages.
        max_missing: most key terms allowed to be missing from the top passages.
        passages: how many top passages the coverage test reads.
    """

    min_similarity: float = 0.45
    min_coverage: float = 0.6
    max_missing: int = 2
    passages: int = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Relevance:
    """The figures the decision was made on (kept with the answer for audit and calibration)."""

    top_similarity: float
    coverage: float
    missing: list[str]
    reason: AbstainReason | None

    def as_json(self) -> dict[str, object]:
        return {"top_similarity": round(self.top_similarity, 4), "coverage": round(self.coverage, 4),
                "missing": self.missing, "reason": self.reason}


def measure(question: str, ranked: Sequence[ScoredPassage], *, passages: int = 3) -> Relevance:
    """The figures both tests read: best similarity, key-term coverage and missing terms (no verdict yet)."""
    if not ranked:
        return Relevance(top_similarity=0.0, coverage=0.0, missing=[], reason="no_passages")
    top_similarity = max(item.similarity for item in ranked)
    vocabulary = term_set([text for item in ranked[:passages] for text in (item.passage.title, item.passage.heading,
                                                                            item.passage.text)])
    terms = key_terms(question)
    return Relevance(top_similarity=top_similarity, coverage=coverage(terms, vocabulary),
                     missing=sorted(set(terms) - vocabulary), reason=None)


def judge(relevance: Relevance, config: AbstentionConfig) -> Relevance:
    """The same figures with the verdict of `config`'s thresholds (the bench re-judges them to calibrate)."""
    reason: AbstainReason | None = "no_passages" if relevance.reason == "no_passages" else None
    if reason is None:
        if relevance.top_similarity < config.min_similarity:
            reason = "low_score"
        elif relevance.coverage < config.min_coverage or len(relevance.missing) > config.max_missing:
            reason = "not_covered"
    return Relevance(top_similarity=relevance.top_similarity, coverage=relevance.coverage,
                     missing=relevance.missing, reason=reason)


def assess(question: str, ranked: Sequence[ScoredPassage], config: AbstentionConfig = AbstentionConfig()) -> Relevance:
    """Whether the top passages answer `question`; `reason` is None when they may."""
    return judge(measure(question, ranked, passages=config.passages), config)
