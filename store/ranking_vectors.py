"""Read, write and search the ranking model's vectors of passages (store).

A row holds one chunk's two vectors from the ranking model (its embedding input and its heading) as
float16, and which model computed them; `knowledge/passage_ranking.py` computes and reads them. Only
rows of the model asked for count; another model's rows of the same chunk stay beside them (revision
0022: a tuned model's vectors are computed before the processes switch to it) until
`delete_other_models` removes them. Each row also holds `search`, the mix of both whose inner product
with a question's vector is the passage's ranking score, which `nearest_by_ranking` searches through
an HNSW index (revision 0021), and the chunk's scope. Store functions take a `Session`; the caller
owns the transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, select, text
from sqlalchemy.orm import Session

from store.schema import Chunk, Document, RankingVectors
from store.unit_vectors import STORED_DTYPE
from store.vector_text import vector_literal

_UPSERT_SQL = text("""
    INSERT INTO ranking_vectors (chunk_id, model, passage, heading, search, scope)
    SELECT :chunk_id, :model, :passage, :heading, CAST(:search AS halfvec), c.scope FROM chunks c WHERE c.id = :chunk_id
    ON CONFLICT (chunk_id, model) DO UPDATE SET passage = excluded.passage,
        heading = excluded.heading, search = excluded.search, scope = excluded.scope, computed_at = now()
""")
_SAVE_SEARCH_SQL = text("UPDATE ranking_vectors r SET search = CAST(:search AS halfvec), scope = c.scope "
                        "FROM chunks c WHERE c.id = r.chunk_id AND r.chunk_id = :chunk_id AND r.model = :model")


RANKING_EF_SEARCH = 64
"""HNSW candidate list of the ranking search (it asks for about ten passages)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RankingRow:
    """One chunk's vectors from the ranking model (float32 in memory, unit length)."""

    chunk_id: int
    passage: np.ndarray
    heading: np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkToRank:
    """A chunk without vectors from the ranking model: what its vectors are computed from."""

    chunk_id: int
    title: str
    heading: str
    text: str


def load_ranking_vectors(session: Session, chunk_ids: Sequence[int], model: str) -> dict[int, RankingRow]:
    """The stored vectors of `chunk_ids` computed by `model` (others, and damaged rows, are missing)."""
    if not chunk_ids:
        return {}
    rows = session.execute(select(RankingVectors.chunk_id, RankingVectors.passage, RankingVectors.heading)
                           .where(RankingVectors.chunk_id.in_(sorted(set(chunk_ids))),
                                  RankingVectors.model == model))
    readable = (_readable(chunk_id, passage, heading) for chunk_id, passage, heading in rows)
    return {row.chunk_id: row for row in readable if row is not None}


def _readable(chunk_id: int, passage: bytes, heading: bytes) -> RankingRow | None:
    """A stored row's vectors, or None when it is damaged (treated as absent, and rewritten when the
    chunk is ranked again)."""
    if not passage or len(passage) != len(heading) or len(passage) % STORED_DTYPE.itemsize:
        return None
    return RankingRow(chunk_id=chunk_id, passage=np.frombuffer(passage, dtype=STORED_DTYPE).astype(np.float32),
                      heading=np.frombuffer(heading, dtype=STORED_DTYPE).astype(np.float32))


def search_vector(row: RankingRow, heading_weight: float) -> np.ndarray:
    """The vector the ranking search reads: (1 - heading_weight) × passage + heading_weight × heading,
    whose inner product with a question's unit vector is the passage's ranking score."""
    return ((1 - heading_weight) * row.passage + heading_weight * row.heading).astype(np.float32)


def save_ranking_vectors(session: Session, model: str, rows: Iterable[RankingRow], *, heading_weight: float) -> int:
    """Insert or replace the rows with their search vectors (`search_vector`), in chunk id order (as
    `save_unit_vectors`, so concurrent writers of overlapping chunks never deadlock); a chunk deleted
    meanwhile is skipped. Returns rows written."""
    written = 0
    for row in sorted(rows, key=lambda ranked: ranked.chunk_id):
        if row.passage.ndim != 1 or row.passage.shape != row.heading.shape or not row.passage.size:
            raise ValueError(f"ranking vectors of chunk {row.chunk_id} have shapes {row.passage.shape} and "
                             f"{row.heading.shape}, not two equal (width,)")
        result = session.execute(_UPSERT_SQL, {
            "chunk_id": row.chunk_id, "model": model,
            "passage": np.ascontiguousarray(row.passage, dtype=STORED_DTYPE).tobytes(),
            "heading": np.ascontiguousarray(row.heading, dtype=STORED_DTYPE).tobytes(),
            "search": vector_literal(search_vector(row, heading_weight))})
        written += result.rowcount or 0  # type: ignore[attr-defined]  # an INSERT's CursorResult
    return written


def rows_without_search(session: Session, model: str, *, after: int, limit: int) -> tuple[list[RankingRow], int | None]:
    """Up to `limit` of `model`'s rows stored without a search vector (before revision 0021, or by a
    process still running older code) whose chunk id is above `after`, in chunk id order: the readable
    ones, and the last chunk id read (None when there were none), so a caller pages past damaged rows
    (left for the answers to rewrite, as `load_ranking_vectors` treats them as missing)."""
    read = session.execute(select(RankingVectors.chunk_id, RankingVectors.passage, RankingVectors.heading)
                           .where(RankingVectors.model == model, RankingVectors.search.is_(None),
                                  RankingVectors.chunk_id > after)
                           .order_by(RankingVectors.chunk_id).limit(limit)).all()
    readable = (_readable(chunk_id, passage, heading) for chunk_id, passage, heading in read)
    return [row for row in readable if row is not None], (read[-1][0] if read else None)


def save_search_vectors(session: Session, model: str, rows: Iterable[RankingRow], *, heading_weight: float) -> int:
    """Store the search vector (and the chunk's scope) of rows already saved; returns rows updated."""
    updated = 0
    for row in sorted(rows, key=lambda ranked: ranked.chunk_id):
        result = session.execute(_SAVE_SEARCH_SQL, {"chunk_id": row.chunk_id, "model": model,
                                                    "search": vector_literal(search_vector(row, heading_weight))})
        updated += result.rowcount or 0  # type: ignore[attr-defined]  # an UPDATE's CursorResult
    return updated


def nearest_by_ranking(session: Session, model: str, question: np.ndarray, *, scopes: Sequence[str], limit: int,
                       exclude: Sequence[int] = (), ef_search: int = RANKING_EF_SEARCH) -> list[int]:
    """The ids of the `limit` chunks in `scopes` (other than `exclude`) whose ranking score for the
    question's vector is highest, best first: an HNSW scan of `model`'s search vectors of the question's
    width (pgvector's iterative scan, so the scope filter still leaves `limit` rows)."""
    if limit <= 0:
        return []
    width = int(question.shape[0])
    session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    session.execute(text(f"SET LOCAL hnsw.ef_search = {max(int(ef_search), limit)}"))
    order = f"(search::halfvec({width})) <#> CAST(:question AS halfvec({width}))"
    rows = session.execute(text(f"""
        WITH nearest AS MATERIALIZED (
            SELECT chunk_id, {order} AS distance FROM ranking_vectors
            WHERE vector_dims(search) = {width} AND model = :model AND scope = ANY(:scopes)
                  AND NOT (chunk_id = ANY(CAST(:exclude AS bigint[])))
            ORDER BY {order} LIMIT :limit
        )
        SELECT chunk_id FROM nearest ORDER BY distance, chunk_id
    """), {"question": vector_literal(question), "model": model, "scopes": list(scopes),
           "exclude": list(exclude), "limit": limit})
    return [chunk_id for (chunk_id,) in rows]


def chunks_to_rank(session: Session, model: str, *, limit: int) -> list[ChunkToRank]:
    """Up to `limit` chunks with no row from `model`, in chunk id order."""
    return _texts(session, select(Chunk.id, Document.title, Chunk.heading, Chunk.text)
                  .join(Document, Document.id == Chunk.document_id)
                  .outerjoin(RankingVectors, and_(RankingVectors.chunk_id == Chunk.id, RankingVectors.model == model))
                  .where(RankingVectors.chunk_id.is_(None)).order_by(Chunk.id).limit(limit))


def chunk_texts(session: Session, chunk_ids: Sequence[int]) -> list[ChunkToRank]:
    """What the vectors of `chunk_ids` are computed from, in chunk id order (deleted chunks left out)."""
    if not chunk_ids:
        return []
    return _texts(session, select(Chunk.id, Document.title, Chunk.heading, Chunk.text)
                  .join(Document, Document.id == Chunk.document_id)
                  .where(Chunk.id.in_(sorted(set(chunk_ids)))).order_by(Chunk.id))


def _texts(session: Session, query: Any) -> list[ChunkToRank]:  # a select of (id, title, heading, text)
    return [ChunkToRank(chunk_id=row.id, title=row.title, heading=row.heading, text=row.text)
            for row in session.execute(query)]


def delete_other_models(session: Session, kept: Collection[str]) -> int:
    """Delete every row computed by a model not in `kept` (the serving model, what a rollback would serve,
    the configured one); returns how many went."""
    result = session.execute(delete(RankingVectors).where(RankingVectors.model.not_in(sorted(kept))))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
