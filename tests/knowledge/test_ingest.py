"""Ingest on the real embedded Postgres with the real embedder: dedupe, atomic replace, files, URLs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from knowledge.chunking import ChunkingConfig, embedding_input
from knowledge.embedding import Embedder
from knowledge.errors import IngestError
from knowledge.heading_vectors import backfill_heading_embeddings
from knowledge.ingest import (
    corpus_stats,
    delete_document,
    ingest_bytes,
    ingest_path,
    ingest_text,
    ingest_url,
    text_uri,
)
from store.schema import Chunk, Document

LIMIT = 1_000_000
GUIDE = ("# Guide\n\nIntro to the service.\n\n## Deploy\n\nRun `make deploy` from main.\n\n"
         "## Rollback\n\nRun `make rollback`.\n")


class CountingEmbedder:
    """The real embedder, counting how many passages it was asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.embedded = 0

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)


class NaNLastEmbedder(CountingEmbedder):
    """Real vectors except the last, which is NaN: Postgres rejects it halfway through the insert."""

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = super().embed_documents(texts)
        vectors[-1] = [float("nan")] * len(vectors[-1])
        return vectors


class BrokenEmbedder(CountingEmbedder):
    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        raise RuntimeError("embedding model crashed")


def _rows(sessions: sessionmaker[Session]) -> list[tuple[int, int, int, str, str, str]]:
    with sessions() as session:
        query = select(Chunk.id, Chunk.document_id, Chunk.ordinal, Chunk.scope, Chunk.heading, Chunk.text)
        return [tuple(row) for row in session.execute(query.order_by(Chunk.document_id, Chunk.ordinal))]


def _documents(sessions: sessionmaker[Session]) -> list[Document]:
    with sessions() as session:
        return list(session.scalars(select(Document).order_by(Document.id)))


def _add_guide(sessions, embedder, text: str = GUIDE, **overrides):
    options = {"title": "Guide", "text": text, "fmt": "markdown", "uri": "file:///docs/guide.md",
               "source": "file"} | overrides
    return ingest_text(sessions, embedder, **options)


def test_document_is_chunked_by_heading_embedded_with_context_and_stored(sessions, embedder) -> None:
    result = _add_guide(sessions, embedder, scope="C0TEAM", added_by="U1")
    assert (result.status, result.chunk_count, result.title) == ("added", 3, "Guide")
    rows = _rows(sessions)
    assert [(r[2], r[3], r[4]) for r in rows] == [
        (0, "C0TEAM", "Guide"), (1, "C0TEAM", "Guide › Deploy"), (2, "C0TEAM", "Guide › Rollback")]
    [document] = _documents(sessions)
    assert (document.scope, document.added_by, document.source) == ("C0TEAM", "U1", "file")
    with sessions() as session:
        stored = list(session.scalars(select(Chunk.embedding).where(Chunk.ordinal == 1)).one())
    [expected] = embedder.embed_documents([embedding_input("Guide", "Guide › Deploy", "Run `make deploy` from main.")])
    assert sum(a * b for a, b in zip(stored, expected, strict=True)) > 0.999


def test_each_chunk_stores_its_heading_vector_and_the_backfill_fills_older_rows(sessions, embedder) -> None:
    _add_guide(sessions, embedder)
    with sessions() as session:
        stored = {row.heading: list(row.heading_embedding) for row in session.execute(
            select(Chunk.heading, Chunk.heading_embedding))}
    [deploy, guide] = embedder.embed_documents(["Deploy", "Guide"])  # the innermost heading, or the title
    assert sum(a * b for a, b in zip(stored["Guide › Deploy"], deploy, strict=True)) > 0.999
    assert sum(a * b for a, b in zip(stored["Guide"], guide, strict=True)) > 0.999
    with sessions.begin() as session:  # as if stored before revision 0005
        session.execute(update(Chunk).values(heading_embedding=None))
    assert backfill_heading_embeddings(sessions, embedder) == 3
    assert backfill_heading_embeddings(sessions, embedder) == 0  # resumable: nothing left to do
    with sessions() as session:
        refilled = {row.heading: list(row.heading_embedding) for row in session.execute(
            select(Chunk.heading, Chunk.heading_embedding))}
    assert sum(a * b for a, b in zip(refilled["Guide › Deploy"], deploy, strict=True)) > 0.999


def test_unchanged_document_is_not_embedded_or_written_again(sessions, embedder) -> None:
    first = _add_guide(sessions, embedder)
    before = _rows(sessions)
    [document_before] = _documents(sessions)
    counting = CountingEmbedder(embedder)
    again = _add_guide(sessions, counting, text=GUIDE.replace("\n", "  \r\n"))  # whitespace noise only
    assert (again.status, again.document_id, again.chunk_count) == ("unchanged", first.document_id, 3)
    assert counting.embedded == 0
    assert _rows(sessions) == before
    assert _documents(sessions)[0].updated_at == document_before.updated_at


def test_the_same_text_cut_at_another_size_is_re_chunked_then_unchanged(sessions, embedder) -> None:
    """The stored chunker signature covers the chunk size and overlap, not only the chunker's version."""
    long_guide = GUIDE + "\n".join(f"Step {n}: run the check number {n} and read its output." for n in range(30))
    small = _add_guide(sessions, embedder, text=long_guide, chunking=ChunkingConfig(max_chars=300, overlap_chars=0))
    default = _add_guide(sessions, embedder, text=long_guide)
    assert (small.status, default.status, default.document_id) == ("added", "replaced", small.document_id)
    assert default.chunk_count < small.chunk_count
    assert _add_guide(sessions, embedder, text=long_guide).status == "unchanged"


def test_changed_document_replaces_its_chunks(sessions, embedder) -> None:
    first = _add_guide(sessions, embedder)
    old_ids = {row[0] for row in _rows(sessions)}
    changed = _add_guide(sessions, embedder, text="# Guide\n\nEverything moved to the new pipeline.\n",
                         title="Guide v2")
    assert (changed.status, changed.document_id, changed.chunk_count) == ("replaced", first.document_id, 1)
    rows = _rows(sessions)
    assert [r[5] for r in rows] == ["Everything moved to the new pipeline."]
    assert old_ids.isdisjoint(r[0] for r in rows)
    [document] = _documents(sessions)
    assert document.title == "Guide v2"


def test_same_content_at_another_uri_is_a_duplicate(sessions, embedder) -> None:
    first = _add_guide(sessions, embedder)
    counting = CountingEmbedder(embedder)
    twin = _add_guide(sessions, counting, uri="https://wiki.example/guide")
    assert (twin.status, twin.document_id, twin.uri) == ("duplicate", first.document_id, "file:///docs/guide.md")
    assert counting.embedded == 0
    assert len(_documents(sessions)) == 1


def test_same_content_in_another_scope_is_a_separate_document(sessions, embedder) -> None:
    _add_guide(sessions, embedder)
    other = _add_guide(sessions, embedder, scope="C0PRIVATE")
    assert other.status == "added"
    assert sorted(d.scope for d in _documents(sessions)) == ["C0PRIVATE", "workspace"]


def test_failure_while_writing_a_replacement_keeps_the_old_version(sessions, embedder) -> None:
    _add_guide(sessions, embedder)
    before = _rows(sessions)
    [document_before] = _documents(sessions)
    new_text = "# Guide\n\nFirst new part.\n\n## Next\n\nSecond new part.\n"
    with pytest.raises(DBAPIError, match="NaN"):
        _add_guide(sessions, NaNLastEmbedder(embedder), text=new_text)
    assert _rows(sessions) == before
    assert _documents(sessions)[0].content_hash == document_before.content_hash


def test_embedding_failure_writes_nothing(sessions, embedder) -> None:
    with pytest.raises(RuntimeError, match="crashed"):
        _add_guide(sessions, BrokenEmbedder(embedder))
    assert _documents(sessions) == [] and _rows(sessions) == []


def test_empty_text_is_refused(sessions, embedder) -> None:
    with pytest.raises(IngestError, match="notes: is empty"):
        ingest_text(sessions, embedder, title="t", text=" \n\n ", fmt="text", uri="notes", source="text")
    assert _documents(sessions) == []


def test_long_document_is_chunked_within_the_configured_size(sessions, embedder) -> None:
    text = "\n\n".join(f"Paragraph {i} explains one more detail of the deploy." for i in range(12))
    result = ingest_text(sessions, embedder, title="Long", text=text, fmt="text", uri="text:long", source="text",
                         chunking=ChunkingConfig(max_chars=200, overlap_chars=40))
    assert result.chunk_count == len(_rows(sessions)) > 3
    assert all(len(row[5]) <= 200 for row in _rows(sessions))


@pytest.mark.parametrize(("name", "data", "headings"), [
    ("guide.md", GUIDE.encode(), ["Guide", "Guide › Deploy", "Guide › Rollback"]),
    ("setup.rst", b"Setup\n=====\n\nInstall.\n\nLinux\n-----\n\nUse apt.\n", ["Setup", "Setup › Linux"]),
    ("page.html", b"<title>P</title><h1>Top</h1><p>a</p><h2>Sub</h2><pre>x = 1</pre>", ["Top", "Top › Sub"]),
    ("tool.py", b"import os\n\n\ndef main():\n    return os.getcwd()\n", ["", "def main()"]),
    ("faq.txt", b"Q: why?\n\nA: because.", [""]),
])
def test_every_text_format_is_ingested_with_its_structure(sessions, embedder, name, data, headings) -> None:
    result = ingest_bytes(sessions, embedder, data, name=name, source="file", max_bytes=LIMIT,
                          uri=f"file:///{name}")
    assert result.status == "added"
    assert [row[4] for row in _rows(sessions)] == headings


def test_pdf_is_ingested(sessions, embedder, pdf_bytes: Callable[..., bytes]) -> None:
    data = pdf_bytes(["On-call rotates every Monday.", "Escalate to the platform lead."], title="On-call")
    result = ingest_bytes(sessions, embedder, data, name="oncall.pdf", source="file", max_bytes=LIMIT,
                          uri="file:///oncall.pdf")
    assert (result.status, result.title) == ("added", "On-call")
    assert "Escalate to the platform lead." in " ".join(row[5] for row in _rows(sessions))


def test_pasted_text_is_identified_by_its_content(sessions, embedder) -> None:
    first = ingest_bytes(sessions, embedder, b"Standup is at 9:30.", name="stdin", source="text", max_bytes=LIMIT)
    assert first.uri == text_uri("Standup is at 9:30.") and first.uri.startswith("text:")
    again = ingest_bytes(sessions, embedder, b"Standup is at 9:30.\n", name="stdin", source="text", max_bytes=LIMIT)
    assert (again.status, again.document_id) == ("unchanged", first.document_id)


def _tree(root: Path) -> None:
    (root / "sub").mkdir()
    (root / ".hidden").mkdir()
    (root / "node_modules").mkdir()
    (root / "guide.md").write_text(GUIDE)
    (root / "sub" / "tool.py").write_text("def main():\n    return 1\n")
    (root / "notes.txt").write_text("Lunch is at noon.")
    (root / "sub" / "bad.txt").write_bytes(b"\x00\x01binary\x00")
    (root / "empty.md").write_text("")
    (root / "photo.png").write_bytes(b"\x89PNG\r\n")
    (root / ".hidden" / "secret.md").write_text("# Secret")
    (root / ".env").write_text("TOKEN=xyz")
    (root / "node_modules" / "dep.js").write_text("function f() {}")


def test_directory_ingest_continues_past_bad_files(sessions, embedder, tmp_path: Path) -> None:
    _tree(tmp_path)
    report = ingest_path(sessions, embedder, tmp_path, max_bytes=LIMIT, progress=False)
    assert sorted(Path(r.uri).name for r in report.results) == ["guide.md", "notes.txt", "tool.py"]
    assert {r.status for r in report.results} == {"added"}
    failures = {Path(f.path).name: f.message for f in report.failures}
    assert set(failures) == {"bad.txt", "empty.md"}
    assert "binary" in failures["bad.txt"] and failures["bad.txt"].startswith(str(tmp_path / "sub" / "bad.txt"))
    assert "is empty" in failures["empty.md"]
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [("photo.png", "unsupported type")]
    assert (report.stopped, report.not_attempted) == (None, ())
    assert sorted(d.title for d in _documents(sessions)) == ["Guide", "notes", "tool.py"]
    assert all(d.uri.startswith("file:///") for d in _documents(sessions))

    again = ingest_path(sessions, embedder, tmp_path, max_bytes=LIMIT, progress=False)
    assert {r.status for r in again.results} == {"unchanged"}


def test_oversized_file_is_refused_unread(sessions, embedder, tmp_path: Path) -> None:
    (tmp_path / "huge.txt").write_text("x" * 5_000)
    report = ingest_path(sessions, embedder, tmp_path / "huge.txt", max_bytes=1_000, progress=False)
    expected = f"{tmp_path / 'huge.txt'}: is 5,000 bytes, over the 1,000-byte limit"
    assert [f.message for f in report.failures] == [expected]
    assert _documents(sessions) == []


def test_missing_path_is_an_error(sessions, embedder, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file or directory"):
        ingest_path(sessions, embedder, tmp_path / "nope", max_bytes=LIMIT)


def test_url_is_fetched_and_ingested_under_its_url(sessions, embedder, document_server) -> None:
    url = document_server.serve("/wiki/deploy", b"<title>Deploy page</title><h1>Deploy</h1><p>Ship it.</p>",
                                content_type="text/html; charset=utf-8")
    result = ingest_url(sessions, embedder, url, allowlist=["127.0.0.1"], max_bytes=LIMIT, timeout_s=2)
    assert (result.status, result.uri, result.title) == ("added", url, "Deploy page")
    assert _documents(sessions)[0].source == "url"


def test_private_url_without_allowlist_writes_nothing(sessions, embedder, document_server) -> None:
    url = document_server.serve("/doc.md", b"# Doc")
    with pytest.raises(IngestError, match="refused"):
        ingest_url(sessions, embedder, url, allowlist=[], max_bytes=LIMIT, timeout_s=2)
    assert _documents(sessions) == [] and document_server.requests == []


def test_delete_document_removes_its_chunks(sessions, embedder) -> None:
    result = _add_guide(sessions, embedder)
    assert corpus_stats(sessions).chunks == 3
    assert delete_document(sessions, result.document_id) is True
    assert (corpus_stats(sessions).documents, corpus_stats(sessions).chunks) == (0, 0)
    assert delete_document(sessions, result.document_id) is False
