"""Batch ingest as a pipeline: documents prepared in one thread while the previous ones are embedded (orch).

`ingest_batch` is the many-documents twin of `knowledge.ingest.ingest_each`, with the same report
and the same promises, and faster:

* a *preparing* thread reads, extracts and chunks each item and checks it against the database
  (`knowledge.ingest.prepare_*`), so Python-side work overlaps with the embedder, which releases
  the GIL while ONNX Runtime or torch compute;
* the calling thread embeds several documents' chunks in one `embed_documents` call (at least
  `batch_chunks` texts when there are that many left), so short documents still fill a batch;
* each document is then stored in its own transaction, as before: a document that fails leaves
  nothing half-written and the others land. A *storing* thread writes one batch while the calling
  thread embeds the next (at most one batch waits to be stored, in order), so the embedder is not
  idle while Postgres inserts rows and updates its indexes.

Failures keep `ingest_each`'s rules: an IngestError is that item's refusal; any other error is
logged and reported as that item's failure (when embedding a batch fails, its documents are
embedded one by one, so only the culprit fails); a lost database (OperationalError,
InterfaceError) stops the batch, and the report lists what was stored before and, as not
attempted, every item without an outcome, in order.

Progress (stderr) shows files done of the total, chunks stored and chunks per second.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from knowledge.embedding import Embedder
from knowledge.errors import IngestError
from knowledge.ingest import (
    DEFAULT_BATCH_CHUNKS,
    DocumentVectors,
    IngestFailure,
    IngestReport,
    IngestResult,
    Prepared,
    PreparedDocument,
    SkippedFile,
    embed_documents_together,
    store_prepared,
)
from store.errors import one_line_reason

logger = logging.getLogger(__name__)

PREPARED_AHEAD = 32
"""Documents the preparing thread may get ahead of the embedder (bounds memory on huge trees)."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    position: int
    item: str
    prepared: Prepared | None = None
    failure: IngestFailure | None = None
    stop: BaseException | None = None


_DONE = _Outcome(-1, "")

Lost = tuple[int, str]
"""(position of the item being stored or embedded, reason) when the database went away."""
Record = Callable[[int, "IngestResult | IngestFailure"], None]


class _Storer:
    """Stores embedded batches on one thread, in order, one batch in flight, while the caller embeds the next."""

    def __init__(self, sessions: sessionmaker[Session], record: Record) -> None:
        self._sessions = sessions
        self._record = record
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-store")
        self._pending: Future[Lost | None] | None = None

    def submit(self, batch: list[_Outcome], documents: list[PreparedDocument],
               vectors: list[DocumentVectors]) -> Lost | None:
        """Queue a batch once the previous one is stored; returns the previous batch's lost database."""
        if (lost := self.wait()) is not None:
            return lost
        self._pending = self._thread.submit(_store_batch, self._sessions, batch, documents, vectors, self._record)
        return None

    def wait(self) -> Lost | None:
        """Wait for the batch in flight; (position, reason) when the database went away while storing it."""
        pending, self._pending = self._pending, None
        return None if pending is None else pending.result()

    def close(self) -> None:
        self._thread.shutdown(wait=True)


def ingest_batch(sessions: sessionmaker[Session], embedder: Embedder, items: Sequence[str],
                 prepare: Callable[[str], Prepared], *, skipped: Sequence[SkippedFile] = (), progress: bool = True,
                 batch_chunks: int = DEFAULT_BATCH_CHUNKS) -> IngestReport:
    """Prepare every item with `prepare`, embed them in shared batches and store each on its own.

    Args:
        items: paths, URLs or "-", as the report names them.
        prepare: reads and chunks an item (`knowledge.ingest.prepare_file`), or finishes it alone and
            returns its result (a URL fetched and stored through `ingest_url`).
        batch_chunks: least texts per embedding call while enough documents remain.
    """
    if batch_chunks < 1:
        raise ValueError(f"batch_chunks must be at least 1, not {batch_chunks}")
    outcomes: queue.Queue[_Outcome] = queue.Queue(maxsize=PREPARED_AHEAD)
    halt = threading.Event()
    preparer = threading.Thread(target=_prepare_all, args=(items, prepare, outcomes, halt), name="ingest-prepare",
                                daemon=True)
    results: dict[int, IngestResult] = {}
    failures: dict[int, IngestFailure] = {}
    stopped: Lost | None = None
    bar = tqdm(total=len(items), desc="ingest", unit="file", disable=not progress or len(items) < 2)
    started, chunks_stored = time.perf_counter(), 0
    recording = threading.Lock()  # the storing thread and this one both record outcomes

    def record(position: int, outcome: IngestResult | IngestFailure) -> None:
        with recording:
            _record(position, outcome)

    def _record(position: int, outcome: IngestResult | IngestFailure) -> None:
        nonlocal chunks_stored
        if isinstance(outcome, IngestFailure):
            failures[position] = outcome
        else:
            results[position] = outcome
            if outcome.status in ("added", "replaced"):
                chunks_stored += outcome.chunk_count
        elapsed = time.perf_counter() - started
        bar.set_postfix_str(f"{chunks_stored} chunks, {chunks_stored / elapsed if elapsed else 0.0:.1f} chunks/s",
                            refresh=False)
        bar.update(1)  # redraws with the file count and the postfix together

    storer = _Storer(sessions, record)
    preparer.start()
    try:
        finished = False
        while not finished and stopped is None:
            batch: list[_Outcome] = []
            texts = 0
            while not finished and texts < batch_chunks:
                outcome = outcomes.get()
                if outcome is _DONE:
                    finished = True
                elif outcome.stop is not None:
                    stopped = (outcome.position, one_line_reason(outcome.stop))
                    finished = True
                elif outcome.failure is not None:
                    record(outcome.position, outcome.failure)
                elif isinstance(outcome.prepared, IngestResult):
                    record(outcome.position, outcome.prepared)
                else:
                    batch.append(outcome)
                    texts += len(outcome.prepared.inputs)  # type: ignore[union-attr]
            stopped = _earlier(stopped, _embed_batch(embedder, batch, record, storer.submit))
        stopped = _earlier(stopped, storer.wait())
    finally:
        storer.close()
        halt.set()
        while preparer.is_alive():  # let a preparer blocked on a full queue see the halt
            with contextlib.suppress(queue.Empty):
                outcomes.get(timeout=0.1)
        preparer.join()
        bar.close()
    done = (tuple(results[i] for i in sorted(results)), tuple(failures[i] for i in sorted(failures)))
    if stopped is None:
        return IngestReport(results=done[0], failures=done[1], skipped=tuple(skipped))
    position, reason = stopped
    return IngestReport(results=done[0], failures=done[1], skipped=tuple(skipped),
                        stopped=f"database error while adding {items[position]}: {reason}",
                        not_attempted=tuple(item for index, item in enumerate(items)
                                            if index not in results and index not in failures))


def _earlier(stopped: Lost | None, lost: Lost | None) -> Lost | None:
    """The stop at the earlier position of the two (None: no stop)."""
    if lost is None or (stopped is not None and stopped[0] <= lost[0]):
        return stopped
    return lost


def _prepare_all(items: Sequence[str], prepare: Callable[[str], Prepared], outcomes: queue.Queue[_Outcome],
                 halt: threading.Event) -> None:
    """Preparing-thread body: one outcome per item in order, then `_DONE`; stops at a lost database."""
    try:
        for position, item in enumerate(items):
            if halt.is_set():
                return
            try:
                outcome = _Outcome(position, item, prepared=prepare(item))
            except IngestError as exc:
                outcome = _Outcome(position, item, failure=IngestFailure(path=item, message=str(exc)))
            except (OperationalError, InterfaceError) as exc:
                outcomes.put(_Outcome(position, item, stop=exc))
                return
            except Exception as exc:
                logger.exception("unexpected error while ingesting %s", item)
                outcome = _Outcome(position, item, failure=_unexpected(item, exc))
            outcomes.put(outcome)
    finally:
        outcomes.put(_DONE)


def _embed_batch(embedder: Embedder, batch: list[_Outcome], record: Record,
                 store: Callable[[list[_Outcome], list[PreparedDocument], list[DocumentVectors]], Lost | None],
                 ) -> Lost | None:
    """Embed the batch's documents together and hand them to `store`; returns (position, reason) on a lost database."""
    if not batch:
        return None
    documents = [outcome.prepared for outcome in batch if isinstance(outcome.prepared, PreparedDocument)]
    try:
        vectors = embed_documents_together(embedder, documents)
    except (OperationalError, InterfaceError) as exc:
        return batch[0].position, one_line_reason(exc)
    except Exception as exc:
        if len(batch) > 1:  # find the culprit: each document embedded on its own
            for outcome in batch:
                if (lost := _embed_batch(embedder, [outcome], record, store)) is not None:
                    return lost
            return None
        logger.exception("unexpected error while ingesting %s", batch[0].item)
        record(batch[0].position, _unexpected(batch[0].item, exc))
        return None
    return store(batch, documents, vectors)


def _store_batch(sessions: sessionmaker[Session], batch: list[_Outcome], documents: list[PreparedDocument],
                 vectors: list[DocumentVectors], record: Record) -> Lost | None:
    """Store each embedded document in its own transaction; stops at a lost database."""
    for outcome, document, own in zip(batch, documents, vectors, strict=True):
        try:
            record(outcome.position, store_prepared(sessions, document, own))
        except (OperationalError, InterfaceError) as exc:
            return outcome.position, one_line_reason(exc)
        except Exception as exc:
            logger.exception("unexpected error while ingesting %s", outcome.item)
            record(outcome.position, _unexpected(outcome.item, exc))
    return None


def _unexpected(item: str, exc: Exception) -> IngestFailure:
    return IngestFailure(path=item, message=f"{item}: could not be added ({one_line_reason(exc)})")
