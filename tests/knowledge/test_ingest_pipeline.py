"""Batch ingest pipeline on the real embedded Postgres with the real embedder: documents share
embedding calls, preparing overlaps embedding, every document keeps its own transaction, progress
shows files, chunks and chunks/s."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from knowledge.embedding import Embedder
from knowledge.ingest import Prepared, ingest_file, ingest_path, prepare_file
from knowledge.ingest_pipeline import ingest_batch
from store.schema import Chunk, Document
from tests.recording_embedder import RecordingEmbedder

MAX_BYTES = 100_000


class PoisonedEmbedder(RecordingEmbedder):
    """Real vectors, except NaN for texts containing `marker`: Postgres refuses that document's insert."""

    def __init__(self, inner: Embedder, marker: str) -> None:
        super().__init__(inner)
        self.marker = marker

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = super().embed_documents(texts)
        return [[float("nan")] * len(v) if self.marker in t else v for t, v in zip(texts, vectors, strict=True)]


def _write_docs(root: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = root / f"doc{i:02d}.md"
        path.write_text(f"# Service {i}\n\n## Ports\n\nservice-{i} listens on port {8000 + i}.\n\n"
                        f"## Restart\n\nRestart service-{i} with `svc restart {i}` after a deploy.\n")
        paths.append(path)
    return paths


def _stored(sessions: sessionmaker[Session]) -> dict[str, list[tuple[int, str, list[float]]]]:
    with sessions() as session:
        rows = session.execute(select(Document.uri, Chunk.ordinal, Chunk.text, Chunk.embedding)
                               .join(Chunk, Chunk.document_id == Document.id).order_by(Document.uri, Chunk.ordinal))
        stored: dict[str, list[tuple[int, str, list[float]]]] = {}
        for uri, ordinal, text, embedding in rows:
            stored.setdefault(Path(uri.removeprefix("file://")).name, []).append((ordinal, text, list(embedding)))
    return stored


def test_documents_share_embedding_calls_and_store_what_one_by_one_ingest_stores(sessions, embedder,
                                                                                  tmp_path: Path) -> None:
    paths = _write_docs(tmp_path, 12)
    recording = RecordingEmbedder(embedder)
    report = ingest_path(sessions, recording, tmp_path, max_bytes=MAX_BYTES, progress=False)
    assert [Path(r.uri).name for r in report.results] == [p.name for p in paths]
    assert {r.status for r in report.results} == {"added"} and report.failures == ()
    # 12 documents × 2 chunks (+ their distinct headings) in far fewer calls than one per document.
    assert len(recording.calls) <= 2, [len(call) for call in recording.calls]
    assert sum(len(call) for call in recording.calls) >= 24
    batched = _stored(sessions)

    with sessions.begin() as session:
        session.execute(Document.__table__.delete())
    for path in paths:
        ingest_file(sessions, embedder, path, max_bytes=MAX_BYTES)
    alone = _stored(sessions)
    assert batched.keys() == alone.keys() and len(batched) == 12
    for name in alone:
        assert [(o, t) for o, t, _ in batched[name]] == [(o, t) for o, t, _ in alone[name]]
        for (_, _, together), (_, _, single) in zip(batched[name], alone[name], strict=True):
            assert float(np.dot(together, single)) > 0.999  # padding in a bigger batch moves floats, not meaning


def test_a_failing_document_leaves_nothing_while_the_others_in_its_batch_land(sessions, embedder,
                                                                                tmp_path: Path) -> None:
    paths = _write_docs(tmp_path, 6)
    poisoned = tmp_path / "doc03.md"
    poisoned.write_text("# Service 3\n\n## Ports\n\nPOISON listens on port 8003.\n\n## Restart\n\nRestart it.\n")
    recording = PoisonedEmbedder(embedder, "POISON")
    report = ingest_path(sessions, recording, tmp_path, max_bytes=MAX_BYTES, progress=False)
    assert len(recording.calls) == 1  # all six were embedded together
    assert [Path(r.uri).name for r in report.results] == [p.name for p in paths if p != poisoned]
    assert [f.path for f in report.failures] == [str(poisoned)]
    assert report.failures[0].message.startswith(f"{poisoned}: could not be added (")
    stored = _stored(sessions)
    assert "doc03.md" not in stored  # its first chunk was fine: the whole document rolled back
    assert all(len(stored[p.name]) == 2 for p in paths if p != poisoned)
    with sessions() as session:
        assert session.scalar(select(Document.id).where(Document.uri == poisoned.resolve().as_uri())) is None


def test_documents_are_prepared_while_earlier_ones_are_embedded(sessions, embedder, tmp_path: Path) -> None:
    paths = _write_docs(tmp_path, 8)
    prepared: list[str] = []
    third_prepared = threading.Event()
    overlapped: list[bool] = []

    def prepare(item: str) -> Prepared:
        prepared.append(item)
        if len(prepared) == 3:
            third_prepared.set()
        return prepare_file(sessions, Path(item), max_bytes=MAX_BYTES)

    class WaitingEmbedder(RecordingEmbedder):
        def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
            if not self.calls:  # the first batch holds document 0 only: do the next ones get read meanwhile?
                overlapped.append(third_prepared.wait(timeout=30))
            return super().embed_documents(texts)

    report = ingest_batch(sessions, WaitingEmbedder(embedder), [str(p) for p in paths], prepare, progress=False,
                          batch_chunks=1)
    assert overlapped == [True]
    assert len(report.results) == 8 and report.failures == ()


def test_a_batch_is_stored_while_the_next_one_is_embedded(sessions, embedder, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The first document's transaction is held open until the second embedding call has begun:
    a pipeline that stored before embedding on would wait in vain (and store nothing overlapped)."""
    import knowledge.ingest_pipeline as pipeline

    paths = _write_docs(tmp_path, 4)
    second_embedding = threading.Event()
    overlapped: list[bool] = []
    storing_threads: set[str] = set()
    real_store = pipeline.store_prepared

    def store(sessions_: sessionmaker[Session], document, vectors):  # type: ignore[no-untyped-def]
        storing_threads.add(threading.current_thread().name)
        if not overlapped:
            overlapped.append(second_embedding.wait(timeout=30))
        return real_store(sessions_, document, vectors)

    class SignallingEmbedder(RecordingEmbedder):
        def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
            if self.calls:
                second_embedding.set()
            return super().embed_documents(texts)

    monkeypatch.setattr(pipeline, "store_prepared", store)
    report = ingest_batch(sessions, SignallingEmbedder(embedder), [str(p) for p in paths],
                          lambda item: prepare_file(sessions, Path(item), max_bytes=MAX_BYTES), progress=False,
                          batch_chunks=1)
    assert overlapped == [True]
    assert all(name.startswith("ingest-store") for name in storing_threads), storing_threads
    assert [Path(r.uri).name for r in report.results] == [p.name for p in paths]
    assert all(len(chunks) == 2 for chunks in _stored(sessions).values()) and len(_stored(sessions)) == 4


def test_progress_shows_files_chunks_and_chunks_per_second(sessions, embedder, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _write_docs(tmp_path, 3)
    ingest_path(sessions, embedder, tmp_path, max_bytes=MAX_BYTES, progress=True)
    shown = capsys.readouterr().err.replace("\r", "\n")
    assert re.search(r"3/3 \[[^]]*(file/s|s/file), 6 chunks, [\d.]+ chunks/s\]", shown), shown


def test_batch_chunks_below_one_is_refused(sessions, embedder) -> None:
    with pytest.raises(ValueError, match="batch_chunks must be at least 1"):
        ingest_batch(sessions, embedder, [], lambda item: pytest.fail("nothing to prepare"), batch_chunks=0)
