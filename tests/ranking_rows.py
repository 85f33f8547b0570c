"""Stand-in ranking vectors for tests that only need a model's rows to exist (which models are kept,
pruned or rolled back to), not what they score."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.ranking_vectors import RankingRow, save_ranking_vectors
from store.schema import Chunk

WIDTH = 768
"""The bundled ranking model's width."""


def store_stand_in_vectors(sessions: sessionmaker[Session], *names: str, leave_out_newest: bool = False) -> None:
    """Store unit vectors for every passage under each of `names`, as ranking them with those models would
    (`leave_out_newest`: not for the newest passage, as if it was added after the model served)."""
    unit = np.ones(WIDTH, dtype=np.float32) / np.sqrt(WIDTH)
    with sessions.begin() as session:
        chunk_ids = session.scalars(select(Chunk.id).order_by(Chunk.id)).all()
        if leave_out_newest:
            chunk_ids = chunk_ids[:-1]
        for name in names:
            save_ranking_vectors(session, name, [RankingRow(chunk_id=chunk_id, passage=unit, heading=unit)
                                                 for chunk_id in chunk_ids], heading_weight=0.2)
