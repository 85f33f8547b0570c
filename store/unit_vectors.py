"""Read and write the stored embeddings of passages' units (store).

A row holds the vectors of one chunk's units (bot/passage_units.py) as float16 and says which
embedder computed them and which unit texts they belong to (`digest`); `bot/unit_vector_cache.py`
decides when a row still fits. Store functions take a `Session`; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from store.schema import EMBEDDING_DIM, UnitVectors

STORED_DTYPE = np.dtype("<f2")
"""float16: half the bytes of float32; a unit vector's cosine to its float32 self stays above 0.9999."""

_UPSERT_SQL = text("""
    INSERT INTO unit_vectors (chunk_id, model, digest, count, vectors)
    SELECT :chunk_id, :model, :digest, :count, :vectors WHERE EXISTS (SELECT 1 FROM chunks WHERE id = :chunk_id)
    ON CONFLICT (chunk_id) DO UPDATE SET model = excluded.model, digest = excluded.digest,
        count = excluded.count, vectors = excluded.vectors, computed_at = now()
""")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredUnitVectors:
    """One chunk's unit vectors as stored: who computed them, for which unit texts, and the array."""

    chunk_id: int
    model: str
    digest: str
    vectors: np.ndarray
    """float32, shape (count, EMBEDDING_DIM)."""


def load_unit_vectors(session: Session, chunk_ids: Sequence[int]) -> dict[int, StoredUnitVectors]:
    """The stored rows of `chunk_ids` (absent chunks are simply missing from the result)."""
    if not chunk_ids:
        return {}
    rows = session.execute(select(UnitVectors.chunk_id, UnitVectors.model, UnitVectors.digest, UnitVectors.count,
                                  UnitVectors.vectors).where(UnitVectors.chunk_id.in_(sorted(set(chunk_ids)))))
    found: dict[int, StoredUnitVectors] = {}
    for chunk_id, model, digest, count, packed in rows:
        if len(packed) != count * EMBEDDING_DIM * STORED_DTYPE.itemsize:
            continue  # a damaged row is treated as absent and rewritten
        array = np.frombuffer(packed, dtype=STORED_DTYPE).reshape(count, EMBEDDING_DIM).astype(np.float32)
        found[chunk_id] = StoredUnitVectors(chunk_id=chunk_id, model=model, digest=digest, vectors=array)
    return found


def save_unit_vectors(session: Session, rows: Iterable[StoredUnitVectors]) -> int:
    """Insert or replace the rows (one statement per row; concurrent writers of a chunk both succeed).

    Rows are written in chunk id order whatever order they come in: two questions storing the same
    passages in different rankings would otherwise lock them in opposite orders and deadlock until
    Postgres's `deadlock_timeout` (1 s) aborted one, which a burst of first questions on a new
    knowledge base did (bench/burst.py). A chunk deleted meanwhile is skipped (its row would dangle);
    returns the number of rows written.
    """
    written = 0
    for row in sorted(rows, key=lambda stored: stored.chunk_id):
        vectors = np.ascontiguousarray(row.vectors, dtype=STORED_DTYPE)
        if vectors.ndim != 2 or vectors.shape[1] != EMBEDDING_DIM:
            raise ValueError(f"unit vectors of chunk {row.chunk_id} have shape {vectors.shape}, "
                             f"not (count, {EMBEDDING_DIM})")
        result = session.execute(_UPSERT_SQL, {
            "chunk_id": row.chunk_id, "model": row.model, "digest": row.digest, "count": len(vectors),
            "vectors": vectors.tobytes()})
        written += result.rowcount or 0  # type: ignore[attr-defined]  # an INSERT's CursorResult
    return written
