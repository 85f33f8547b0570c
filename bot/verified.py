"""Verified answers in the answering pipeline: which one a question matches, and how it is shown (pure + store).

A teammate's confirmed reply beats anything the pipeline could write, so it is looked up before
retrieval. Two thresholds on the cosine similarity between the new question and the verified
answer's question, both measured on a paraphrase set (bench/verified_match.py):

* at or above `serve_threshold` (chosen for precision ≥ 0.95: a wrong verified answer is worse
  than none), and unless one question swaps a term of the other for another (`swaps_terms`), the
  verified answer *is* the answer: no retrieval, no model;
* at or above `offer_threshold` it is shown first, above the usual evidence, as "a verified answer
  to a similar question", so the asker can judge whether it applies.

Only verified answers in scopes the asking conversation may read are considered (a verified
answer confirmed in a private channel is served only there), and retired ones never are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.lexicon import is_content_word, stem, words
from knowledge.search import visible_scopes
from store.verified_answers import VerifiedRecord, nearest_verified

CONTRASTING_WORDS = frozenset({"one", "two", "three", "four", "five", "six", "first", "last", "up", "down", "before",
                               "after"})
"""Stop words that still change what a question asks ("priority one" vs "three", scale "up" vs "down")."""

SERVE_THRESHOLD = 0.69
"""Cosine at which a verified answer is served as the answer (bench/results/verified_match.json)."""
OFFER_THRESHOLD = 0.68
"""Cosine at which a verified answer is shown above the evidence (bench/results/verified_match.json)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedConfig:
    """When verified answers are served or offered.

    Attributes:
        enabled: False skips the lookup (the bench of the generated path, or a deployment without them).
        serve_threshold: cosine similarity of the questions at which the verified answer is the answer.
        offer_threshold: cosine similarity at which it is shown first, above the evidence.
    """

    enabled: bool = True
    serve_threshold: float = SERVE_THRESHOLD
    offer_threshold: float = OFFER_THRESHOLD

    def __post_init__(self) -> None:
        if not 0.0 < self.offer_threshold <= self.serve_threshold <= 1.0:
            raise ValueError(f"need 0 < offer_threshold <= serve_threshold <= 1, got {self.offer_threshold} and "
                             f"{self.serve_threshold}")


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedMatch:
    """The verified answer nearest a question, its similarity, and whether it is served or only offered."""

    record: VerifiedRecord
    similarity: float
    served: bool

    def as_json(self) -> dict[str, object]:
        return {"verified_answer_id": self.record.id, "similarity": round(self.similarity, 4), "served": self.served}


def match_verified(sessions: sessionmaker[Session], question: str, query_vector: Sequence[float], *,
                   channel: str | None, config: VerifiedConfig,
                   scopes: Sequence[str] | None = None) -> VerifiedMatch | None:
    """The verified answer to serve or offer for `question` (embedded as `query_vector`) asked in `channel`.

    `scopes` replaces `visible_scopes(channel)` when the channel's answer sources are set.
    """
    if not config.enabled:
        return None
    read = list(scopes) if scopes is not None else visible_scopes(channel)
    with sessions() as session:
        nearest = nearest_verified(session, query_vector, scopes=read)
    if nearest is None or nearest[1] < config.offer_threshold:
        return None
    record, similarity = nearest
    served = similarity >= config.serve_threshold and not swaps_terms(question, record.question)
    return VerifiedMatch(record=record, similarity=similarity, served=served)


def swaps_terms(asked: str, verified_question: str) -> bool:
    """Whether each question has a content term the other lacks: a substitution, which changes the question.

    Measured on the paraphrase set, the near misses the embedder scores highest are one-word swaps
    ("clear the Redis cache in staging" / "in production", "frontend" / "backend", cosine 0.88–0.97),
    while a rewording that only adds or drops words ("how can I restart the indexer for search?")
    keeps the question. Synonym swaps ("purge" / "invalidate") are refused too: they are offered instead.
    """
    asked_terms, verified_terms = _terms(asked), _terms(verified_question)
    return bool(asked_terms - verified_terms) and bool(verified_terms - asked_terms)


def _terms(text: str) -> set[str]:
    return {stem(word) for word in words(text) if is_content_word(word) or word in CONTRASTING_WORDS}


def served_markdown(record: VerifiedRecord) -> str:
    """The answer text when a verified answer is served (who verified it is shown beside it, see `attribution`)."""
    return record.answer_text.strip()


def offered_markdown(record: VerifiedRecord) -> str:
    """A verified answer to a similar question, quoted above the evidence with the question it answered."""
    quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in record.answer_text.strip().splitlines())
    return f"**A verified answer to a similar question** (“{record.question.strip()}”):\n{quoted}\n\n"
