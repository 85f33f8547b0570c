"""Values that cross package boundaries (pure): ORM rows never leave `knowledge`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Passage:
    """A retrieved chunk with its score and what a citation needs."""

    chunk_id: int
    document_id: int
    title: str
    uri: str
    heading: str
    text: str
    score: float
    scope: str
    similarity: float | None = None
    """Cosine similarity to the query whatever the search mode (`score` is mode-specific: RRF, ts_rank)."""
