"""Insert documents with hand-made vectors, for search tests that must not depend on a model."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from store.schema import EMBEDDING_DIM, Chunk, Document


def unit_vector(*weights: float) -> list[float]:
    """A 384-d vector whose first components are `weights` (normalised), the rest zero."""
    vector = list(weights) + [0.0] * (EMBEDDING_DIM - len(weights))
    norm = sum(v * v for v in vector) ** 0.5
    return [v / norm for v in vector]


def add_document(sessions: sessionmaker[Session], *, title: str, scope: str, chunks: Sequence[tuple[str, list[float]]],
                 uri: str | None = None, heading_vector: list[float] | None = None) -> list[int]:
    """A document with the given (text, vector) chunks; returns the chunk ids in order.

    `heading_vector` is stored as every chunk's heading embedding (None: left NULL, as before 0005).
    """
    with sessions() as session, session.begin():
        document = Document(source="text", title=title, uri=uri or f"test:{title}", content_hash=title, scope=scope)
        for ordinal, (text, vector) in enumerate(chunks):
            document.chunks.append(Chunk(ordinal=ordinal, scope=scope, heading=title, text=text, embedding=vector,
                                         heading_embedding=heading_vector))
        session.add(document)
        session.flush()
        return [chunk.id for chunk in document.chunks]
