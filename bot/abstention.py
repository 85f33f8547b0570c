"""Decide when to say "not in the documents" instead of answering (pure).

Measured on hand-written teammate-style questions, answerable and not (bench/quality.py, the
`abstention` section of bench/results/quality.json; thresholds calibrated on the dev half of both
knowledge bases and reported on the test half):

1. **Relevance**: the mean of two figures must reach `min_score`: the best passage's cosine
   similarity to the question, and the score of the best unit (sentence, list item or code block)
   of the top passages — the one the evidence would quote first (cosine similarity plus the lexical
   cue of bot/unit_scoring.py). The passage figure alone (`figure="passage"`, the rule before) mixes
   the sentence that answers with the ones around it and misses answers that are one sentence of a
   long passage; the unit figure alone (`figure="evidence"`) overrates a near-miss that shares a
   word with one short sentence ("what's the office wifi password?" against "To connect to the
   office VPN …", 0.53) and underrates a terse question that matches a section's heading ("VPN
   access?"). Calibrated on both bench knowledge bases' dev splits, the mean answers 95.3% / refuses
   85.2% of the FAQ test questions (94.1% / 88.9% before) and 74% / 87% of a holdout set written
   later (50% / 90% before).
2. **Unknown names**: a distinctive word of the question — not everyday English (bot/lexicon.py:
   product and tool names, jargon, slang; an inflection of an everyday word such as "cleanest" or
   "untangle" is everyday) — that no passage in the whole visible knowledge base
   contains, even as a prefix ("terraform", "wifi", "fastapi"), means its subject is probably not
   documented; such a question needs `unknown_score` to be answered.
3. **Coverage** (kept as a measured figure, off by default): the share of key terms found in the
   top passages. Teammates describe problems in their own words, so on paraphrased questions it
   refused most answerable questions before it refused the unanswerable ones.

An answer whose deciding figure clears its bar by less than `loose_margin` is a **loose match**: it
is answered, and says first that the documents match the question only loosely. On the bench's
non-blind sets, answers within 0.06 of their bar were right (the question's own section first) less
often than the rest (55% against 83% on the FAQ pages, 18% against 49% on the whole docs) and were
29 of the 76 answered unanswerable questions (bench/abstention_features.py, `loose_matches`).
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

DecidingFigure = Literal["both", "evidence", "passage"]
"""Which relevance figure the thresholds read: the mean of the best passage's similarity and the best
evidence unit's score (the default), or either alone."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AbstentionConfig:
    """Thresholds of the tests.

    Attributes:
        min_score: least score of the deciding figure.
        unknown_score: least score for a question with a key term the knowledge base never mentions.
        min_coverage: least share of the question's key terms found in the top passages (0: off).
        passages: how many top passages the coverage figure reads.
        figure: "both" (the default) judges the mean of the best passage's similarity and the best
            evidence unit's score; "evidence" or "passage" one of them alone (kept for the bench's
            same-run comparison; "passage" is the rule before).
        loose_margin: an answer whose deciding figure clears the bar that applied to it by less than
            this is a loose match (`is_loose`; 0: none is).
    """

    min_score: float = 0.36
    unknown_score: float = 0.46
    min_coverage: float = 0.0
    passages: int = 3
    figure: DecidingFigure = "both"
    loose_margin: float = 0.06

    def __post_init__(self) -> None:
        if self.loose_margin < 0:
            raise ValueError(f"abstention loose_margin must be >= 0, got {self.loose_margin}")

    def bar(self, relevance: Relevance) -> float:
        """The least deciding figure `relevance` needs to be answered: `unknown_score` when the
        question names something no document mentions, `min_score` otherwise."""
        return max(self.min_score, self.unknown_score) if relevance.unknown else self.min_score


_RANKING_KEYS = ("ranking_score", "ranking_best", "ranking_margin")
"""How a `Relevance`'s ranking figures are stored beside the others (each None when the order did not
read the ranking model)."""
_RANKING_MODEL_KEY = "ranking_model"
"""… and the name of the ranking model that said them (a deployed tuned model's, bot/ranking_follower.py)."""


@dataclass(frozen=True, slots=True)
class RankingFigures:
    """What the ranking model said of the passages an answer re-ordered (knowledge/passage_ranking.py).

    Kept with the relevance figures for audit and for calibrating a rule that reads them
    (bench/abstention_features.py); the thresholds do not (the top passage's score, at 95% answered,
    refused no more of the bench's unanswerable questions).
    """

    score: float
    """Its score of the top passage."""
    best: float
    """Its best score among the re-ordered passages."""
    margin: float | None
    """The best score minus the second best (None with one passage)."""
    model: str | None = None
    """The ranking model's name (what its stored vectors say); None in rows written before it was kept."""

    @classmethod
    def of(cls, top: float, scores: Sequence[float], model: str | None = None) -> RankingFigures:
        """The figures from the top passage's score and every re-ordered passage's, said by `model`."""
        ordered = sorted(scores, reverse=True)
        return cls(score=top, best=ordered[0], margin=ordered[0] - ordered[1] if len(ordered) > 1 else None,
                   model=model)

    @staticmethod
    def to_json(figures: RankingFigures | None) -> dict[str, float | str | None]:
        """`figures` as stored, rounded (None for each when there are none)."""
        values = (None, None, None) if figures is None else (figures.score, figures.best, figures.margin)
        stored: dict[str, float | str | None] = {
            key: None if value is None else round(value, 4) for key, value in zip(_RANKING_KEYS, values, strict=True)}
        stored[_RANKING_MODEL_KEY] = None if figures is None else figures.model
        return stored

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> RankingFigures | None:
        """The figures `to_json` stored; None for rows without them (written before they were kept)."""
        score, best, margin = (stored.get(key) for key in _RANKING_KEYS)
        if score is None or best is None:
            return None
        return cls(score=float(score), best=float(best), margin=None if margin is None else float(margin),
                   model=stored.get(_RANKING_MODEL_KEY))


@dataclass(frozen=True, slots=True, kw_only=True)
class Relevance:
    """The figures the decision was made on (kept with the answer for audit and calibration)."""

    top_similarity: float
    evidence_score: float
    coverage: float
    missing: list[str]
    unknown: list[str]
    reason: AbstainReason | None
    ranking: RankingFigures | None = None
    """None when the answer kept the first stage's order."""

    def as_json(self) -> dict[str, object]:
        return {"top_similarity": round(self.top_similarity, 4), "evidence_score": round(self.evidence_score, 4),
                "coverage": round(self.coverage, 4), "missing": self.missing, "unknown": self.unknown,
                "reason": self.reason, **RankingFigures.to_json(self.ranking)}

    @classmethod
    def from_json(cls, figures: dict[str, Any]) -> Relevance:
        """The figures as `as_json` stored them (on an answer row, in a bench outcome); rows written
        before the evidence score was kept read 0.0 for it, before the ranking figures None."""
        return cls(top_similarity=float(figures.get("top_similarity", 0.0)),
                   evidence_score=float(figures.get("evidence_score", 0.0)),
                   coverage=float(figures.get("coverage", 0.0)), missing=list(figures.get("missing", [])),
                   unknown=list(figures.get("unknown", [])), reason=figures.get("reason"),
                   ranking=RankingFigures.from_json(figures))

    def deciding(self, figure: DecidingFigure) -> float:
        """The figure the thresholds compare."""
        if figure == "evidence":
            return self.evidence_score
        if figure == "passage":
            return self.top_similarity
        return (self.top_similarity + self.evidence_score) / 2


def measure(question: str, found: Sequence[Passage], *, evidence_score: float, unknown: Sequence[str] = (),
            passages: int = 3, ranking: RankingFigures | None = None) -> Relevance:
    """The figures the tests read (no verdict yet).

    Args:
        evidence_score: the best unit's score among the top passages (bot/unit_scoring.best_unit_score).
        unknown: the question's terms the knowledge base never mentions.
        ranking: what the ranking model said of the re-ordered passages, when the order read it.
    """
    if not found:
        return Relevance(top_similarity=0.0, evidence_score=0.0, coverage=0.0, missing=[], unknown=list(unknown),
                         reason="no_passages")
    top_similarity = max(p.similarity if p.similarity is not None else p.score for p in found)
    vocabulary = term_set([text for p in found[:passages] for text in (p.title, p.heading, p.text)])
    terms = key_terms(question)
    return Relevance(top_similarity=top_similarity, evidence_score=evidence_score,
                     coverage=coverage(terms, vocabulary), missing=sorted(set(terms) - vocabulary),
                     unknown=sorted(unknown), reason=None, ranking=ranking)


def judge(relevance: Relevance, config: AbstentionConfig) -> Relevance:
    """The same figures with the verdict of `config`'s thresholds (the bench re-judges them to calibrate)."""
    reason: AbstainReason | None = "no_passages" if relevance.reason == "no_passages" else None
    if reason is None:
        score = relevance.deciding(config.figure)
        if score < config.min_score:
            reason = "low_score"
        elif score < config.bar(relevance):
            reason = "unknown_terms"
        elif relevance.coverage < config.min_coverage:
            reason = "not_covered"
    return replace(relevance, reason=reason)


def is_loose(relevance: Relevance, config: AbstentionConfig) -> bool:
    """Whether an answered question's deciding figure clears its bar by less than `config.loose_margin`:
    the documents come close to the question without clearly answering it (False when refused)."""
    return relevance.reason is None and relevance.deciding(config.figure) < config.bar(relevance) + config.loose_margin


def assess(question: str, found: Sequence[Passage], config: AbstentionConfig = AbstentionConfig(), *,
           evidence_score: float, unknown: Sequence[str] = (), ranking: RankingFigures | None = None) -> Relevance:
    """Whether the top passages answer `question`; `reason` is None when they may."""
    return judge(measure(question, found, evidence_score=evidence_score, unknown=unknown,
                         passages=config.passages, ranking=ranking), config)
