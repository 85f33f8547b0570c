"""Add, replace and delete knowledge-base documents (orch).

Combines extraction, chunking, the injected embedder and session factory; reads files, and fetches
URLs through `knowledge.fetching`. Dedupe is by the hash of the normalised text, within a scope:

* same (scope, uri) and same hash: "unchanged", nothing is embedded or written;
* same (scope, uri), new hash: "replaced", the old chunks are deleted and the new ones inserted in
  one transaction, so readers see the old version or the new one and never a mix;
* no document at this uri, but one elsewhere in the scope with the same hash: "duplicate", nothing
  written (a changed document at a known uri is always replaced, even if it now equals another);
* otherwise "added".

Embeddings are computed before the transaction opens: the slow step holds no locks, and when it
fails nothing has been written. A document whose text is only headings (`# Title`, an RST title,
an HTML page with just an <h1>) is refused with that reason rather than stored as a passage of
its title alone: a title-only passage answers nothing and would be quoted as evidence for any
question that shares its words.

Each step has its own function (`prepare_*`: read, extract, chunk and check; `embed_documents_together`;
`store_prepared`: one transaction), so that `knowledge.ingest_pipeline.ingest_batch` can overlap
preparing with embedding and embed several documents per call; `ingest_path` uses it. Batches
(there, and through `ingest_each` for items that each finish alone) end every item as a
result or a failure with its reason, whatever the error, and one bad file never stops the rest.
Only losing the database stops a batch; the report then lists what was committed before it and
what was not attempted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from knowledge.chunking import (
    DEFAULT_CHUNKING,
    ChunkingConfig,
    ChunkText,
    chunk_document,
    content_hash,
    embedding_input,
    heading_leaf,
)
from knowledge.embedding import Embedder
from knowledge.errors import IngestError
from knowledge.extraction import extract_document, is_supported_name
from knowledge.fetching import fetch_url
from store.errors import one_line_reason
from store.schema import WORKSPACE_SCOPE, Chunk, Document

logger = logging.getLogger(__name__)

IngestStatus = Literal["added", "replaced", "unchanged", "duplicate"]
SKIPPED_DIRECTORIES = frozenset({"node_modules", "__pycache__"})
"""Skipped in directory walks besides hidden ones: dependencies and caches, not team knowledge."""
DEFAULT_BATCH_CHUNKS = 128
"""Texts gathered for one embedding call in batch ingest: enough batches for every encoder thread of a
bulk embedder (8 of its 16-text batches; 64 texts gave two encoders less to share, bench/ingest_speed.py)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestResult:
    """What became of one document; for "duplicate", the id, uri and title of the existing twin."""

    document_id: int
    uri: str
    title: str
    status: IngestStatus
    chunk_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestFailure:
    """An item of a batch (a path, URL or "-") that was not ingested; `message` names it and says why."""

    path: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedFile:
    """A file a directory walk did not try: an unsupported type, or a symbolic link to a directory."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestReport:
    """Outcome of a batch: one result or failure per item tried, and the files not tried.

    Attributes:
        stopped: why the batch stopped early (the database became unreachable), else None. The
            `results` were committed before that; `not_attempted` lists the items left, starting
            with the one in progress, whose transaction was rolled back.
    """

    results: tuple[IngestResult, ...]
    failures: tuple[IngestFailure, ...]
    skipped: tuple[SkippedFile, ...] = ()
    stopped: str | None = None
    not_attempted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CorpusStats:
    documents: int
    chunks: int
    older_chunking: int = 0
    """Documents cut by an older chunker (or before the chunker was recorded): re-chunked when added again."""


def text_uri(text: str) -> str:
    """The uri of pasted text: the same text pasted twice is the same document."""
    return f"text:{content_hash(text)[:16]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedDocument:
    """A document read, chunked and checked against the database, waiting for its vectors.

    `inputs` are the texts its chunk vectors embed (title and heading path above each chunk) and
    `leaves` the heading each chunk's heading vector embeds, in chunk order.
    """

    name: str
    title: str
    uri: str
    source: str
    scope: str
    added_by: str | None
    digest: str
    chunking: str
    """The signature of the chunker that cut `chunks` (`ChunkingConfig.signature()`)."""
    chunks: list[ChunkText]
    inputs: list[str]
    leaves: list[str]


Prepared = PreparedDocument | IngestResult
"""What preparing an item gives: a document to embed and store, or its final result already
("unchanged" or "duplicate", or whatever a path that does its own storing returned)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentVectors:
    chunks: list[list[float]]
    headings: list[list[float]]


def ingest_text(sessions: sessionmaker[Session], embedder: Embedder, *, title: str, text: str, fmt: str,
                uri: str, source: str, language: str | None = None, scope: str = WORKSPACE_SCOPE,
                added_by: str | None = None, chunking: ChunkingConfig = DEFAULT_CHUNKING,
                name: str | None = None) -> IngestResult:
    """Chunk, embed and store `text` as the document `uri` of `scope` (see the module docstring).

    Args:
        fmt: a `knowledge.chunking` format; `language` goes with "code".
        source: file | url | text | slack_file.
        name: how errors name the input (a path as the user gave it); default `uri`.

    Raises:
        IngestError: `text` has nothing to index: it is empty, or only headings.
    """
    return embed_and_store(sessions, embedder, prepare_text(
        sessions, title=title, text=text, fmt=fmt, uri=uri, source=source, language=language, scope=scope,
        added_by=added_by, chunking=chunking, name=name))


def prepare_text(sessions: sessionmaker[Session], *, title: str, text: str, fmt: str, uri: str, source: str,
                 language: str | None = None, scope: str = WORKSPACE_SCOPE, added_by: str | None = None,
                 chunking: ChunkingConfig = DEFAULT_CHUNKING, name: str | None = None) -> Prepared:
    """Everything `ingest_text` does before embedding: chunk, and return early when nothing needs writing.

    Raises:
        IngestError: as `ingest_text`.
    """
    name = name or uri
    if not text.strip():
        raise IngestError(f"{name}: is empty (no text to index)")
    chunks = chunk_document(text, fmt=fmt, language=language, config=chunking)
    if not chunks:
        raise IngestError(f"{name}: has only headings, no text under them to index")
    digest = content_hash(text)
    title = title.strip() or uri
    signature = chunking.signature()
    with sessions() as session:
        existing = _document_at(session, scope=scope, uri=uri)
        if (known := _unchanged_or_duplicate(session, existing, scope=scope, digest=digest,
                                             chunking=signature)) is not None:
            return known
    return PreparedDocument(name=name, title=title, uri=uri, source=source, scope=scope, added_by=added_by,
                            digest=digest, chunking=signature, chunks=chunks,
                            inputs=[embedding_input(title, chunk.heading, chunk.text) for chunk in chunks],
                            leaves=[heading_leaf(title, chunk.heading) for chunk in chunks])


def embed_documents_together(embedder: Embedder, documents: Sequence[PreparedDocument]) -> list[DocumentVectors]:
    """The chunk and heading vectors of several documents from one `embed_documents` call.

    One call keeps the embedder's batches full whatever the documents' sizes (a batch of short
    documents no longer costs one small batch each); each distinct heading text is embedded once.
    """
    leaves = list(dict.fromkeys(leaf for document in documents for leaf in document.leaves))
    inputs = [text for document in documents for text in document.inputs]
    vectors = embedder.embed_documents(inputs + leaves)
    if len(vectors) != len(inputs) + len(leaves):
        raise RuntimeError(f"embedder returned {len(vectors)} vectors for {len(inputs) + len(leaves)} texts")
    by_leaf = dict(zip(leaves, vectors[len(inputs):], strict=True))
    out: list[DocumentVectors] = []
    start = 0
    for document in documents:
        out.append(DocumentVectors(chunks=vectors[start:start + len(document.inputs)],
                                   headings=[by_leaf[leaf] for leaf in document.leaves]))
        start += len(document.inputs)
    return out


def embed_and_store(sessions: sessionmaker[Session], embedder: Embedder, prepared: Prepared) -> IngestResult:
    """Embed one prepared document and store it in its own transaction (a result passes through)."""
    if isinstance(prepared, IngestResult):
        return prepared
    (vectors,) = embed_documents_together(embedder, [prepared])
    return store_prepared(sessions, prepared, vectors)


def store_prepared(sessions: sessionmaker[Session], document: PreparedDocument,
                   vectors: DocumentVectors) -> IngestResult:
    """Write one embedded document in one transaction: added, replaced, or unchanged/duplicate after all."""
    try:
        return _store(sessions, document, vectors)
    except IntegrityError:
        # Another process inserted this uri between our check and our insert; the second try sees
        # its row and replaces it or finds it unchanged.
        return _store(sessions, document, vectors)


def ingest_bytes(sessions: sessionmaker[Session], embedder: Embedder, data: bytes, *, name: str, source: str,
                 max_bytes: int, uri: str | None = None, content_type: str | None = None,
                 title: str | None = None, scope: str = WORKSPACE_SCOPE, added_by: str | None = None,
                 chunking: ChunkingConfig = DEFAULT_CHUNKING) -> IngestResult:
    """Extract `data` (a file or download called `name`) and ingest its text.

    Args:
        uri: the document's identity; None means pasted text, identified by its content (`text_uri`).
        title: overrides the title found in the document.
    """
    return embed_and_store(sessions, embedder, prepare_bytes(
        sessions, data, name=name, source=source, max_bytes=max_bytes, uri=uri, content_type=content_type,
        title=title, scope=scope, added_by=added_by, chunking=chunking))


def prepare_bytes(sessions: sessionmaker[Session], data: bytes, *, name: str, source: str, max_bytes: int,
                  uri: str | None = None, content_type: str | None = None, title: str | None = None,
                  scope: str = WORKSPACE_SCOPE, added_by: str | None = None,
                  chunking: ChunkingConfig = DEFAULT_CHUNKING) -> Prepared:
    """`ingest_bytes` up to the embedding (see `prepare_text`)."""
    document = extract_document(data, name=name, max_bytes=max_bytes, content_type=content_type)
    return prepare_text(sessions, title=title or document.title, text=document.text, fmt=document.fmt,
                        language=document.language, uri=uri or text_uri(document.text), source=source,
                        scope=scope, added_by=added_by, chunking=chunking, name=name)


def ingest_file(sessions: sessionmaker[Session], embedder: Embedder, path: Path, *, max_bytes: int,
                title: str | None = None, scope: str = WORKSPACE_SCOPE, added_by: str | None = None,
                chunking: ChunkingConfig = DEFAULT_CHUNKING) -> IngestResult:
    """Ingest one file; its uri is its absolute file:// URL. Oversized files are refused unread."""
    return embed_and_store(sessions, embedder, prepare_file(sessions, path, max_bytes=max_bytes, title=title,
                                                            scope=scope, added_by=added_by, chunking=chunking))


def prepare_file(sessions: sessionmaker[Session], path: Path, *, max_bytes: int, title: str | None = None,
                 scope: str = WORKSPACE_SCOPE, added_by: str | None = None,
                 chunking: ChunkingConfig = DEFAULT_CHUNKING) -> Prepared:
    """`ingest_file` up to the embedding (see `prepare_text`)."""
    try:
        if path.is_symlink() and not path.exists():
            raise IngestError(f"{path}: is a broken or looping symbolic link")
        if not path.is_file():
            raise IngestError(f"{path}: {'not a regular file' if path.exists() else 'no such file'}")
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(f"{path}: is {size:,} bytes, over the {max_bytes:,}-byte limit")
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return prepare_bytes(sessions, data, name=str(path), source="file", max_bytes=max_bytes,
                         uri=path.resolve().as_uri(), title=title, scope=scope, added_by=added_by,
                         chunking=chunking)


def ingest_path(sessions: sessionmaker[Session], embedder: Embedder, path: Path, *, max_bytes: int,
                scope: str = WORKSPACE_SCOPE, added_by: str | None = None,
                chunking: ChunkingConfig = DEFAULT_CHUNKING, progress: bool = True,
                batch_chunks: int = DEFAULT_BATCH_CHUNKS) -> IngestReport:
    """Ingest a file, or every supported file under a directory (see `collect_files`).

    Runs through `knowledge.ingest_pipeline.ingest_batch`: files are read and chunked while earlier
    ones are embedded, at least `batch_chunks` texts share an embedding call, each document is
    stored in its own transaction.

    Raises:
        IngestError: `path` does not exist.
    """
    if not path.exists() and not path.is_symlink():
        raise IngestError(f"{path}: no such file or directory")
    from knowledge.ingest_pipeline import ingest_batch  # it builds on this module's prepare/store steps

    files, skipped = collect_files(path)

    def prepare_one(file: str) -> Prepared:
        return prepare_file(sessions, Path(file), max_bytes=max_bytes, scope=scope, added_by=added_by,
                            chunking=chunking)

    return ingest_batch(sessions, embedder, files, prepare_one, skipped=skipped, progress=progress,
                        batch_chunks=batch_chunks)


def ingest_each(items: Sequence[str], ingest_one: Callable[[str], IngestResult], *,
                skipped: Sequence[SkippedFile] = (), progress: bool = True) -> IngestReport:
    """Run `ingest_one` on every item (a path, URL or "-"), going on past every kind of failure.

    An IngestError is a refused input; any other error (a bug, a crashed embedder, a value the
    database rejects) is logged with its traceback and reported as that item's failure. Only a
    lost database connection (OperationalError, InterfaceError) stops the batch: every later item
    would fail the same way, and the report says what was committed before it.
    """
    results: list[IngestResult] = []
    failures: list[IngestFailure] = []
    for position, item in enumerate(tqdm(items, desc="ingest", unit="file", disable=not progress or len(items) < 2)):
        try:
            results.append(ingest_one(item))
        except IngestError as exc:
            failures.append(IngestFailure(path=item, message=str(exc)))
        except (OperationalError, InterfaceError) as exc:
            return IngestReport(results=tuple(results), failures=tuple(failures), skipped=tuple(skipped),
                                stopped=f"database error while adding {item}: {one_line_reason(exc)}",
                                not_attempted=tuple(items[position:]))
        except Exception as exc:
            logger.exception("unexpected error while ingesting %s", item)
            failures.append(IngestFailure(path=item, message=f"{item}: could not be added ({one_line_reason(exc)})"))
    return IngestReport(results=tuple(results), failures=tuple(failures), skipped=tuple(skipped))


def collect_files(path: Path) -> tuple[list[str], list[SkippedFile]]:
    """The files a batch tries for `path`, in name order, and the files it skips (with the reason).

    A file is tried as it is; under a directory, supported names are tried (including symbolic
    links to files; a broken or looping one fails with that reason) and others are skipped as
    unsupported. Hidden files and directories and SKIPPED_DIRECTORIES are not visited; symbolic
    links to directories are skipped, not followed, so a link cycle cannot loop the walk.
    """
    if not path.is_dir():
        return [str(path)], []
    files: list[str] = []
    skipped: list[SkippedFile] = []
    for directory, subdirectories, names in os.walk(path):
        linked = [d for d in subdirectories if (Path(directory) / d).is_symlink()]
        skipped += [SkippedFile(path=str(Path(directory) / d), reason="symbolic link to a directory, not followed")
                    for d in sorted(linked) if not d.startswith(".")]
        subdirectories[:] = sorted(d for d in subdirectories
                                   if not d.startswith(".") and d not in SKIPPED_DIRECTORIES and d not in linked)
        for name in sorted(names):
            if name.startswith("."):
                continue
            file = str(Path(directory) / name)
            if is_supported_name(name):
                files.append(file)
            else:
                skipped.append(SkippedFile(path=file, reason="unsupported type"))
    return files, skipped


def ingest_url(sessions: sessionmaker[Session], embedder: Embedder, url: str, *, allowlist: Sequence[str],
               max_bytes: int, timeout_s: float, title: str | None = None, scope: str = WORKSPACE_SCOPE,
               added_by: str | None = None, chunking: ChunkingConfig = DEFAULT_CHUNKING) -> IngestResult:
    """Fetch `url` (SSRF-checked, see `knowledge.fetching`) and ingest it under the uri `url`.

    The download's ETag and Last-Modified are kept, so the scheduled re-fetch (`knowledge.refresh`)
    can ask whether the page changed.
    """
    fetched = fetch_url(url, allowlist=allowlist, max_bytes=max_bytes, timeout_s=timeout_s)
    result = ingest_bytes(sessions, embedder, fetched.data, name=fetched.final_url, source="url",
                          max_bytes=max_bytes, uri=url, content_type=fetched.content_type, title=title,
                          scope=scope, added_by=added_by, chunking=chunking)
    if result.status != "duplicate":  # a duplicate is another document's row; its validators are its own
        with sessions.begin() as session:
            session.execute(update(Document).where(Document.id == result.document_id).values(
                etag=fetched.etag, last_modified=fetched.last_modified))
    return result


def delete_document(sessions: sessionmaker[Session], document_id: int) -> bool:
    """Delete a document and its chunks; False when there was no such document."""
    with sessions.begin() as session:
        deleted = session.execute(delete(Document).where(Document.id == document_id).returning(Document.id))
        return deleted.first() is not None


def corpus_stats(sessions: sessionmaker[Session]) -> CorpusStats:
    """How many documents and chunks the knowledge base holds."""
    with sessions() as session:
        documents = session.scalar(select(func.count()).select_from(Document)) or 0
        chunks = session.scalar(select(func.count()).select_from(Chunk)) or 0
        older = session.scalar(select(func.count()).select_from(Document).where(
            Document.chunking.is_distinct_from(DEFAULT_CHUNKING.signature()))) or 0
    return CorpusStats(documents=documents, chunks=chunks, older_chunking=older)


def _chunk_count(session: Session, document_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Chunk).where(Chunk.document_id == document_id)) or 0


def _result(session: Session, document: Document, status: IngestStatus) -> IngestResult:
    return IngestResult(document_id=document.id, uri=document.uri, title=document.title, status=status,
                        chunk_count=_chunk_count(session, document.id))


def _document_at(session: Session, *, scope: str, uri: str, lock: bool = False) -> Document | None:
    query = select(Document).where(Document.scope == scope, Document.uri == uri)
    return session.scalars(query.with_for_update() if lock else query).one_or_none()


def _unchanged_or_duplicate(session: Session, document: Document | None, *, scope: str,
                            digest: str, chunking: str) -> IngestResult | None:
    """The result when nothing needs writing; None when the document must be added or replaced.

    The same text cut by another chunker (an older version, another size, or unknown: stored before
    the signature was) is replaced, so re-adding a source re-chunks it.
    """
    if document is not None:
        same = document.content_hash == digest and document.chunking == chunking
        return _result(session, document, "unchanged") if same else None
    twin = session.scalars(
        select(Document).where(Document.scope == scope, Document.content_hash == digest)
        .order_by(Document.id).limit(1)
    ).first()
    return _result(session, twin, "duplicate") if twin is not None else None


def _store(sessions: sessionmaker[Session], prepared: PreparedDocument, vectors: DocumentVectors) -> IngestResult:
    scope, uri, digest, title = prepared.scope, prepared.uri, prepared.digest, prepared.title
    with sessions.begin() as session:
        # Checked again under a row lock: another process may have written this uri meanwhile.
        document = _document_at(session, scope=scope, uri=uri, lock=True)
        if (known := _unchanged_or_duplicate(session, document, scope=scope, digest=digest,
                                             chunking=prepared.chunking)) is not None:
            return known
        if document is None:
            status: IngestStatus = "added"
            document = Document(source=prepared.source, title=title, uri=uri, content_hash=digest, scope=scope,
                                chunking=prepared.chunking, added_by=prepared.added_by)
            session.add(document)
            session.flush()
        else:
            status = "replaced"
            session.execute(delete(Chunk).where(Chunk.document_id == document.id))
            session.execute(
                update(Document).where(Document.id == document.id).values(
                    title=title, content_hash=digest, chunking=prepared.chunking, source=prepared.source,
                    added_by=prepared.added_by or document.added_by, updated_at=func.now())
            )
        session.execute(insert(Chunk), [
            {"document_id": document.id, "ordinal": chunk.ordinal, "scope": scope, "heading": chunk.heading,
             "text": chunk.text, "embedding": vector, "heading_embedding": heading_vector}
            for chunk, vector, heading_vector in zip(prepared.chunks, vectors.chunks, vectors.headings, strict=True)
        ])
        return IngestResult(document_id=document.id, uri=uri, title=title, status=status,
                            chunk_count=len(prepared.chunks))
