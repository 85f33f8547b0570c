"""Score every unit of the retrieved passages against the question, and re-rank passages by their best unit (pure).

A passage is retrieved by its whole-chunk embedding, which averages everything the chunk says; a
teammate's question usually matches one sentence of it. Embedding the units (sentences, list items,
code blocks) of the candidate passages once, with the embedder the product already loaded, serves
two purposes: re-ranking the candidates by the best-matching unit (measured in bench/quality.py:
it lifts hit@1 on paraphrased questions) and choosing the evidence to quote (bot/evidence.py).

A unit's score is its cosine similarity to the question plus a small lexical cue: the share of the
question's key terms (bot/lexicon.py) that the unit, its passage's heading or title contain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.lexicon import content_terms, coverage, term_set
from bot.passage_units import Unit, split_units
from knowledge.types import Passage

EmbedTexts = Callable[[Sequence[str]], Sequence[Sequence[float]]]
"""Unit-length embeddings for texts (the knowledge embedder's `embed_documents`)."""

MAX_UNITS_PER_PASSAGE = 40
"""A pathological passage (a thousand one-word lines) must not make a question slow."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoringConfig:
    """How units and passages are scored.

    Attributes:
        lexical_weight: weight of key-term coverage added to a unit's cosine similarity.
        unit_weight: weight of a passage's best unit score when re-ranking (the passage's own
            similarity has weight 1 - unit_weight).
    """

    lexical_weight: float = 0.2
    unit_weight: float = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoredUnit:
    unit: Unit
    similarity: float
    lexical: float
    score: float
    vector: np.ndarray
    """The unit's embedding, reused by the support check (bot/support.py)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoredPassage:
    """A retrieved passage with its units scored; `rank_score` orders the re-ranked list."""

    passage: Passage
    similarity: float
    units: list[ScoredUnit]
    rank_score: float

    @property
    def best_unit(self) -> ScoredUnit | None:
        return max(self.units, key=lambda scored: scored.score, default=None)


def key_terms(question: str) -> list[str]:
    """The question's content stems (what an answer must be about)."""
    return content_terms(question)


def score_passages(question: str, passages: Sequence[Passage], similarities: Sequence[float],
                   embed: EmbedTexts, config: ScoringConfig = ScoringConfig()) -> list[ScoredPassage]:
    """Units of each passage scored against `question`; passages re-ranked best first.

    `similarities` are the passages' cosine similarities to the question (whatever the search mode).
    """
    split = [split_units(passage.text)[:MAX_UNITS_PER_PASSAGE] for passage in passages]
    texts = [question] + [unit.text for units in split for unit in units]
    vectors = np.asarray(embed(texts), dtype=np.float32)
    question_vector, unit_vectors = vectors[0], vectors[1:]
    terms = key_terms(question)
    scored: list[ScoredPassage] = []
    offset = 0
    for passage, similarity, units in zip(passages, similarities, split, strict=True):
        context = term_set([passage.title, passage.heading])
        scored_units = []
        for unit in units:
            cosine = float(unit_vectors[offset] @ question_vector)
            offset += 1
            lexical = coverage(terms, context | set(content_terms(unit.text)))
            scored_units.append(ScoredUnit(unit=unit, similarity=cosine, lexical=lexical,
                                           score=cosine + config.lexical_weight * lexical,
                                           vector=unit_vectors[offset - 1]))
        best = max((unit.score for unit in scored_units), default=similarity)
        scored.append(ScoredPassage(passage=passage, similarity=similarity, units=scored_units,
                                    rank_score=(1 - config.unit_weight) * similarity + config.unit_weight * best))
    return sorted(scored, key=lambda item: -item.rank_score)
