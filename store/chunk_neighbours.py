"""The chunk just before a chunk in its document (store): how a quoted chunk began.

A chunk may begin inside a sentence: the chunker repeats the end of the previous chunk's last
paragraph, and a sentence may go on after a code block the previous chunk ended with. Whether it did
is read from that previous chunk (bot/chunk_starts.py). Store functions take a `Session`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

_PREVIOUS_SQL = text("""
    SELECT c.id, p.text, p.heading
    FROM chunks c JOIN chunks p ON p.document_id = c.document_id AND p.ordinal = c.ordinal - 1
    WHERE c.id = ANY(:ids)
""")


@dataclass(frozen=True, slots=True)
class PreviousChunk:
    """The text and heading path of the chunk before another one in the same document."""

    text: str
    heading: str


def previous_chunks(session: Session, chunk_ids: Collection[int]) -> dict[int, PreviousChunk]:
    """For each of `chunk_ids`, the chunk before it in its document (absent for a document's first chunk)."""
    if not chunk_ids:
        return {}
    rows = session.execute(_PREVIOUS_SQL, {"ids": list(chunk_ids)})
    return {row.id: PreviousChunk(text=row.text, heading=row.heading) for row in rows}
