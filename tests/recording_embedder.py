"""An embedder for tests that keeps the texts of every `embed_documents` call and embeds with the real one."""

from __future__ import annotations

from collections.abc import Sequence

from knowledge.embedding import Embedder


class RecordingEmbedder:
    """The real embedder, keeping the texts of every call."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return self.inner.embed_documents(texts)
