"""Unit vectors read from the database when a question reads a passage again, embedded and kept otherwise.

Embedding the units of the top passages was 85% of the CPU time to the quoted evidence (142 of 167 ms
a question with the int8 ONNX embedder on 2 cores); under a burst of questions that time is what
keeps the evidence from showing within a second. A passage's units are fixed while its chunk exists,
so the first question that reads a passage pays for its units once and later questions read them
back (bench/unit_vector_cache.py measures both). The cache never decides an answer: a row written by
another embedder, for other unit texts (the splitter changed) or damaged is recomputed and replaced,
and a database error while reading or writing it is logged and the units are embedded as before.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.passage_units import Unit
from bot.unit_scoring import EmbedTexts, embed_units
from store.types import Passage
from store.unit_vectors import StoredUnitVectors, load_unit_vectors, save_unit_vectors

logger = logging.getLogger(__name__)


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
    """

    def __init__(self, sessions: sessionmaker[Session], embed: EmbedTexts, model: str) -> None:
        self._sessions = sessions
        self._embed = embed
        self.model = model

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
            computed = embed_units(self._embed, [units[index] for index in missing])
            found.update(zip(missing, computed, strict=True))
            self._save([StoredUnitVectors(chunk_id=passages[index].chunk_id, model=self.model,
                                          digest=digests[index], vectors=found[index])
                        for index in missing if len(units[index])])
        return [found[index] for index in range(len(passages))]

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
