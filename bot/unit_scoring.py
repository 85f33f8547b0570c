"""Score every unit of the top passages against the question (pure).

A passage is retrieved by its whole-chunk embedding, which averages everything the chunk says; a
teammate's question usually matches one sentence of it. The units (sentences, list items, code
blocks) of the passages an answer quotes and shows the model are embedded once, with the embedder
the product already loaded, and kept in the database for the next question that reads the same
passage (bot/unit_vector_cache.py); evidence selection (bot/evidence.py) picks from them, the support
check (bot/support.py) compares generated sentences with them, and the re-ranking (bot/reranking.py)
re-orders the search's top passages by passage score plus their best unit's.

A unit's score is its cosine similarity to the question plus a small lexical cue: the share of the
question's key terms (bot/lexicon.py) that the unit, its passage's heading or title contain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.lexicon import content_terms, coverage, term_set
from bot.passage_units import Unit, split_units
from store.types import Passage

EmbedTexts = Callable[[Sequence[str]], Sequence[Sequence[float]]]
"""Unit-length embeddings for texts (the knowledge embedder's `embed_documents`)."""

UnitVectorSource = Callable[[Sequence[Passage], Sequence[Sequence[Unit]]], Sequence[np.ndarray]]
"""The vectors of each passage's units (one array of shape (units, dim) per passage, in order)."""

MAX_UNITS_PER_PASSAGE = 40
"""A pathological passage (a thousand one-word lines) must not make a question slow."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoringConfig:
    """How units are scored.

    Attributes:
        lexical_weight: weight of key-term coverage added to a unit's cosine similarity.
    """

    lexical_weight: float = 0.2


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
    """A retrieved passage with its units scored."""

    passage: Passage
    units: list[ScoredUnit]


def key_terms(question: str) -> list[str]:
    """The question's content stems (what an answer must be about)."""
    return content_terms(question)


def passage_units(passage: Passage) -> list[Unit]:
    """The units of `passage` that are scored (at most MAX_UNITS_PER_PASSAGE)."""
    return split_units(passage.text)[:MAX_UNITS_PER_PASSAGE]


def embed_units(embed: EmbedTexts, units: Sequence[Sequence[Unit]]) -> list[np.ndarray]:
    """Each passage's unit vectors, shape (len(units), dim), from one call of `embed`."""
    texts = [unit.text for passage in units for unit in passage]
    vectors = np.asarray(embed(texts), dtype=np.float32) if texts else np.zeros((0, 0), dtype=np.float32)
    arrays, offset = [], 0
    for passage in units:
        arrays.append(vectors[offset:offset + len(passage)])
        offset += len(passage)
    return arrays


def score_passages(question: str, passages: Sequence[Passage], embed: EmbedTexts,
                   config: ScoringConfig = ScoringConfig(), *, question_vector: Sequence[float] | None = None,
                   unit_vectors: UnitVectorSource | None = None) -> list[ScoredPassage]:
    """The units of each passage scored against `question`, passages in the order given.

    Args:
        question_vector: the question's embedding when the caller has it already (else embedded here).
        unit_vectors: where the units' vectors come from (bot/unit_vector_cache.py keeps them in the
            database); by default they are embedded with `embed`.
    """
    split = [passage_units(passage) for passage in passages]
    question_array = (np.asarray(question_vector, dtype=np.float32) if question_vector is not None
                      else np.asarray(embed([question])[0], dtype=np.float32))
    per_passage = (unit_vectors(passages, split) if unit_vectors is not None else embed_units(embed, split))
    terms = key_terms(question)
    scored: list[ScoredPassage] = []
    for passage, units, vectors in zip(passages, split, per_passage, strict=True):
        context = term_set([passage.title, passage.heading])
        scored_units = []
        for unit, vector in zip(units, vectors, strict=True):
            cosine = float(vector @ question_array)
            lexical = coverage(terms, context | set(content_terms(unit.text)))
            scored_units.append(ScoredUnit(unit=unit, similarity=cosine, lexical=lexical,
                                           score=cosine + config.lexical_weight * lexical, vector=vector))
        scored.append(ScoredPassage(passage=passage, units=scored_units))
    return scored


def best_unit_score(ranked: Sequence[ScoredPassage]) -> float:
    """The highest unit score among `ranked` (0.0 without units): what the evidence quotes first,
    and the figure abstention judges (bot/abstention.py)."""
    return max((unit.score for passage in ranked for unit in passage.units), default=0.0)
