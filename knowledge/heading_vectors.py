"""Heading vectors: each chunk's section heading embedded on its own (store + embedder).

Search re-scores the nearest chunks with their heading's similarity to the question
(knowledge/search.py); see migration 0005 for why and the measured effect. A heading is embedded
once per distinct text, however many chunks share it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from knowledge.chunking import heading_leaf
from knowledge.embedding import Embedder
from store.schema import Chunk, Document

BACKFILL_BATCH = 500
Vector = TypeVar("Vector")


def embed_heading_leaves(embed: Callable[[list[str]], Sequence[Vector]], leaves: Sequence[str]) -> list[Vector]:
    """One vector per entry of `leaves`, each distinct text embedded once by `embed` (a model's batch
    call: the search's embedder, or the ranking model's, knowledge/passage_ranking.py)."""
    distinct = list(dict.fromkeys(leaves))
    vectors = dict(zip(distinct, embed(distinct), strict=True)) if distinct else {}
    return [vectors[leaf] for leaf in leaves]


def backfill_heading_embeddings(sessions: sessionmaker[Session], embedder: Embedder) -> int:
    """Fill `heading_embedding` where it is NULL (rows stored before revision 0005); returns rows filled.

    Works in batches, each its own transaction, so an interrupted backfill keeps what it did and a
    second run continues where it stopped.
    """
    filled = 0
    while True:
        with sessions() as session:
            rows = session.execute(
                select(Chunk.id, Chunk.heading, Document.title).join(Document, Document.id == Chunk.document_id)
                .where(Chunk.heading_embedding.is_(None)).order_by(Chunk.id).limit(BACKFILL_BATCH)).all()
        if not rows:
            return filled
        vectors = embed_heading_leaves(embedder.embed_documents, [heading_leaf(row.title, row.heading) for row in rows])
        with sessions.begin() as session:
            session.execute(update(Chunk), [{"id": row.id, "heading_embedding": vector}
                                            for row, vector in zip(rows, vectors, strict=True)])
        filled += len(rows)
