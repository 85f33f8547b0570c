"""What the knowledge base holds, document by document: the listing behind `kbbot kb list` (store, read-only).

Takes a `Session` (the caller owns the transaction), like every store function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.schema import Chunk, Document


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentSummary:
    """One stored document: enough to recognise it and to remove it (by id or URI)."""

    id: int
    title: str
    uri: str
    scope: str
    source: str
    chunks: int
    added_by: str | None
    updated_at: datetime


def list_documents(session: Session, *, scope: str | None = None, limit: int = 50) -> list[DocumentSummary]:
    """The most recently updated documents first, `limit` of them, of one scope or of all.

    Raises ValueError for a `limit` below 1.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    chunk_counts = (select(Chunk.document_id, func.count().label("chunks")).group_by(Chunk.document_id)
                    .subquery())
    query = (select(Document, func.coalesce(chunk_counts.c.chunks, 0))
             .outerjoin(chunk_counts, chunk_counts.c.document_id == Document.id)
             .order_by(Document.updated_at.desc(), Document.id.desc()).limit(limit))
    if scope is not None:
        query = query.where(Document.scope == scope)
    return [DocumentSummary(id=document.id, title=document.title, uri=document.uri, scope=document.scope,
                            source=document.source, chunks=int(chunks), added_by=document.added_by,
                            updated_at=document.updated_at)
            for document, chunks in session.execute(query).all()]
