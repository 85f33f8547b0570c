"""Values that cross package boundaries (pure): ORM rows never leave `store`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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


@dataclass(frozen=True, slots=True, kw_only=True)
class GapQuestion:
    """A question the bot abstained on (`abstained`) or that got at least one 👎 (`downvotes`)."""

    answer_id: int
    question: str
    channel: str | None
    asked_at: datetime
    abstained: bool
    downvotes: int
