"""Unit vectors read from the database when a question reads a passage again, embedded and kept otherwise.

Embedding the units of the top passages was 85% of the CPU time to the quoted evidence (142 of 167 ms
a question with the int8 ONNX embedder on 2 cores); under a burst of questions that time is what
keeps the evidence from showing within a second. A passage's units are fixed while its chunk exists,
so the first question that reads a passage pays for its units once and later questions read them
back (bench/unit_vector_cache.py measures both). The cache never decides an answer: a row written by
another embedder, for other unit texts (the splitter changed) or damaged is recomputed and replaced,
and a database error while reading or writing it is logged and the units are embedded as before.

Within a process, a passage's units are embedded once even when several questions need them at the
same moment (a burst's first questions over a new knowledge base retrieve the same passages): the
first question to miss a passage embeds it, and the others wait for its vectors instead of embedding
them too (single-flight). A question waits only after publishing the passages it embeds itself, so
two questions never wait on each other; if the embedding fails, the waiters embed the units themselves.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.passage_units import Unit
from bot.unit_scoring import EmbedTexts, embed_units
from store.types import Passage
from store.unit_vectors import StoredUnitVectors, load_unit_vectors, save_unit_vectors

logger = logging.getLogger(__name__)

IN_FLIGHT_WAIT_S = 30.0
"""The most a question waits for another question's embedding of a passage before embedding it itself."""


def units_digest(units: Sequence[Unit]) -> str:
    """SHA-256 (hex) of the unit texts in order: stored vectors belong to exactly these units."""
    digest = hashlib.sha256()
    for unit in units:
        digest.update(unit.text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


class UnitVectorCache:
    """A `UnitVectorSource` (bot/unit_scoring.py) backed by the `unit_vectors` table.

    Args:
        sessions: the product's session factory.
        embed: the embedder's `embed_documents`, for units not stored yet.
        model: the embedder's identity (`model_name`); rows computed by another embedder are recomputed.
        single_flight: concurrent questions missing the same passage embed it once (off: each embeds it,
            as before; the baseline of bench/unit_vector_herd.py).
    """

    def __init__(self, sessions: sessionmaker[Session], embed: EmbedTexts, model: str, *,
                 single_flight: bool = True) -> None:
        self._sessions = sessions
        self._embed = embed
        self.model = model
        self._single_flight = single_flight
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[int, str], Future[np.ndarray]] = {}
        """Passages (chunk id, units digest) a thread of this process is embedding now."""

    def __call__(self, passages: Sequence[Passage], units: Sequence[Sequence[Unit]]) -> list[np.ndarray]:
        digests = [units_digest(passage_units) for passage_units in units]
        stored = self._load([passage.chunk_id for passage in passages])
        found: dict[int, np.ndarray] = {}
        missing: list[int] = []
        for index, (passage, passage_units, digest) in enumerate(zip(passages, units, digests, strict=True)):
            row = stored.get(passage.chunk_id)
            if row is not None and row.model == self.model and row.digest == digest \
                    and len(row.vectors) == len(passage_units):
                found[index] = row.vectors
            else:
                missing.append(index)
        if missing:
            keys = {index: (passages[index].chunk_id, digests[index]) for index in missing}
            owned, awaited = self._claim(keys)
            if owned:
                self._embed_owned(owned, keys, passages, units, digests, found)
            retry = [index for index, future in awaited.items() if not self._awaited(future, index, found)]
            if retry:
                found.update(zip(retry, embed_units(self._embed, [units[index] for index in retry]), strict=True))
                self._save(self._rows(retry, passages, units, digests, found))
        return [found[index] for index in range(len(passages))]

    def _claim(self, keys: dict[int, tuple[int, str]]) -> tuple[dict[int, Future[np.ndarray]],
                                                                 dict[int, Future[np.ndarray]]]:
        """Split the missing passages into those this thread embeds (claimed now) and those another
        thread is embedding, each with the future its vectors arrive on."""
        if not self._single_flight:
            return {index: Future() for index in keys}, {}
        owned: dict[int, Future[np.ndarray]] = {}
        awaited: dict[int, Future[np.ndarray]] = {}
        with self._lock:
            for index, key in keys.items():
                if (future := self._in_flight.get(key)) is not None:
                    awaited[index] = future
                else:
                    owned[index] = self._in_flight[key] = Future()
        return owned, awaited

    def _embed_owned(self, owned: dict[int, Future[np.ndarray]], keys: dict[int, tuple[int, str]],
                     passages: Sequence[Passage], units: Sequence[Sequence[Unit]], digests: list[str],
                     found: dict[int, np.ndarray]) -> None:
        """Embed the claimed passages, hand their vectors to waiting threads, store them, then release them.

        The claim is released only after the rows are stored, so a question arriving meanwhile takes the
        vectors from the finished claim instead of missing them in the table and embedding them again.
        """
        try:
            computed = embed_units(self._embed, [units[index] for index in owned])
            for (index, future), vectors in zip(owned.items(), computed, strict=True):
                found[index] = vectors
                future.set_result(vectors)
            self._save(self._rows(owned, passages, units, digests, found))
        except BaseException as exc:
            for future in owned.values():
                if not future.done():
                    future.set_exception(exc)
            raise
        finally:
            with self._lock:
                for index, future in owned.items():
                    if self._in_flight.get(keys[index]) is future:
                        del self._in_flight[keys[index]]

    @staticmethod
    def _awaited(future: Future[np.ndarray], index: int, found: dict[int, np.ndarray]) -> bool:
        """Take another thread's vectors for one passage; False when it failed or took too long."""
        try:
            found[index] = future.result(timeout=IN_FLIGHT_WAIT_S)
        except Exception as exc:  # noqa: BLE001 - the waiter embeds the units itself, as without the claim
            logger.info("another question's embedding of a passage's units failed (%s); embedding them here",
                        exc or type(exc).__name__)
            return False
        return True

    def _rows(self, indexes: Iterable[int], passages: Sequence[Passage], units: Sequence[Sequence[Unit]],
              digests: list[str], found: dict[int, np.ndarray]) -> list[StoredUnitVectors]:
        """The rows to store for the passages at `indexes` (a passage without units has none)."""
        return [StoredUnitVectors(chunk_id=passages[index].chunk_id, model=self.model, digest=digests[index],
                                  vectors=found[index]) for index in indexes if len(units[index])]

    def _load(self, chunk_ids: list[int]) -> dict[int, StoredUnitVectors]:
        try:
            with self._sessions() as session:
                return load_unit_vectors(session, chunk_ids)
        except SQLAlchemyError as exc:
            logger.warning("stored unit vectors could not be read, embedding the units instead: %s", exc)
            return {}

    def _save(self, rows: list[StoredUnitVectors]) -> None:
        if not rows:
            return
        try:
            with self._sessions() as session, session.begin():
                save_unit_vectors(session, rows)
        except SQLAlchemyError as exc:
            logger.warning("unit vectors could not be stored (the next question embeds them again): %s", exc)
