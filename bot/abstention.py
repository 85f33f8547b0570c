"""Decide when to say "not in the documents" instead of answering (pure).

Measured on hand-written teammate-style questions, answerable and not (bench/quality.py, the
`abstention` section of bench/results/quality.json; thresholds calibrated on the dev half and
reported on the test half):

1. **Relevance**: the best passage's cosine similarity to the question (in every search mode)
   must reach `min_similarity`. Alone it cannot refuse in-vocabulary near-misses ("how do I squash
   Django migrations?" lands on Python's packaging pages at 0.5+).
2. **Unknown names**: a distinctive word of the question — not everyday English (bot/lexicon.py:
   product and tool names, jargon, slang) — that no passage in the whole visible knowledge base
   contains, even as a prefix ("terraform", "wifi", "fastapi"), means its subject is not
   documented; such a question needs `unknown_similarity` to be answered. On the dev split 2% of
   answerable questions had one against 48% of unanswerable ones (any unknown content word: 6%
   against 67%, too many false refusals on a small knowledge base).
3. **Coverage** (kept as a measured figure, off by default): the share of key terms found in the
   top passages. Teammates describe problems in their own words, so on paraphrased questions it
   refused most answerable questions before it refused the unanswerable ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from bot.lexicon import coverage, term_set
from bot.unit_scoring import key_terms
from store.types import Passage

AbstainReason = Literal["no_passages", "low_score", "unknown_terms", "not_covered", "no_evidence"]
"""no_evidence: the passages hold nothing quotable (no sentence, item or code block)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AbstentionConfig:
    """Thresholds of the tests.

    Attributes:
        min_similarity: least cosine similarity of the best passage.
        unknown_similarity: least similarity for a question with a key term the knowledge base
            never mentions.
        min_coverage: least share of the question's key terms found in the top passages (0: off).
        passages: how many top passages the coverage figure reads.
    """

    min_similarity: float = 0.32
    unknown_similarity: float = 0.53
    min_coverage: float = 0.0
    passages: int = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Relevance:
    """The figures the decision was made on (kept with the answer for audit and calibration)."""

    top_similarity: float
    coverage: float
    missing: list[str]
    unknown: list[str]
    reason: AbstainReason | None

    def as_json(self) -> dict[str, object]:
        return {"top_similarity": round(self.top_similarity, 4), "coverage": round(self.coverage, 4),
                "missing": self.missing, "unknown": self.unknown, "reason": self.reason}

    @classmethod
    def from_json(cls, figures: dict[str, Any]) -> Relevance:
        """The figures as `as_json` stored them (on an answer row, in a bench outcome)."""
        return cls(top_similarity=float(figures.get("top_similarity", 0.0)),
                   coverage=float(figures.get("coverage", 0.0)), missing=list(figures.get("missing", [])),
                   unknown=list(figures.get("unknown", [])), reason=figures.get("reason"))


def measure(question: str, found: Sequence[Passage], *, unknown: Sequence[str] = (), passages: int = 3) -> Relevance:
    """The figures the tests read (no verdict yet); `unknown` are the question's terms the KB never mentions."""
    if not found:
        return Relevance(top_similarity=0.0, coverage=0.0, missing=[], unknown=list(unknown), reason="no_passages")
    top_similarity = max(p.similarity if p.similarity is not None else p.score for p in found)
    vocabulary = term_set([text for p in found[:passages] for text in (p.title, p.heading, p.text)])
    terms = key_terms(question)
    return Relevance(top_similarity=top_similarity, coverage=coverage(terms, vocabulary),
                     missing=sorted(set(terms) - vocabulary), unknown=sorted(unknown), reason=None)


def judge(relevance: Relevance, config: AbstentionConfig) -> Relevance:
    """The same figures with the verdict of `config`'s thresholds (the bench re-judges them to calibrate)."""
    reason: AbstainReason | None = "no_passages" if relevance.reason == "no_passages" else None
    if reason is None:
        if relevance.top_similarity < config.min_similarity:
            reason = "low_score"
        elif relevance.unknown and relevance.top_similarity < config.unknown_similarity:
            reason = "unknown_terms"
        elif relevance.coverage < config.min_coverage:
            reason = "not_covered"
    return replace(relevance, reason=reason)


def assess(question: str, found: Sequence[Passage], config: AbstentionConfig = AbstentionConfig(), *,
           unknown: Sequence[str] = ()) -> Relevance:
    """Whether the top passages answer `question`; `reason` is None when they may."""
    return judge(measure(question, found, unknown=unknown, passages=config.passages), config)
