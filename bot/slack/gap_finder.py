"""Finding knowledge gaps with each question embedded once per process (orch).

`GapFinder.clusters()` reads the gap questions (`store.interactions.gap_questions`), embeds
only those it has not embedded before (a question's text never changes, so its vector is kept by
answer id) and clusters them (`knowledge.gaps`). `/kb gaps` and the App Home both call it.
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker

from knowledge.embedding import Embedder
from knowledge.gaps import DISTANCE_THRESHOLD, GapCluster, cluster_gaps
from store.interactions import gap_questions


class GapFinder:
    """Clusters the newest `max_questions` gap questions, embedding each question once per process."""

    def __init__(self, sessions: sessionmaker[Session], embedder: Embedder, *, max_questions: int = 500,
                 distance_threshold: float = DISTANCE_THRESHOLD) -> None:
        self._sessions = sessions
        self._embedder = embedder
        self._max_questions = max_questions
        self._distance_threshold = distance_threshold
        self._vectors: dict[int, list[float]] = {}
        self._lock = threading.Lock()

    def clusters(self) -> list[GapCluster]:
        with self._sessions() as session:
            questions = gap_questions(session, limit=self._max_questions)
        with self._lock:
            missing = [q for q in questions if q.answer_id not in self._vectors]
        fresh = self._embedder.embed_documents([q.question for q in missing])
        with self._lock:
            self._vectors.update(zip((q.answer_id for q in missing), fresh, strict=True))
            wanted = {q.answer_id for q in questions}
            for answer_id in [a for a in self._vectors if a not in wanted]:  # bounded by max_questions
                del self._vectors[answer_id]
            vectors = [self._vectors[q.answer_id] for q in questions]
        return cluster_gaps(questions, vectors, distance_threshold=self._distance_threshold)
