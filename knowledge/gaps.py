"""Knowledge gaps: the questions the bot could not answer well, grouped by meaning (pure).

A gap question is one the bot abstained on or that got a 👎; questions about the same missing
document should land in one cluster, so an admin sees "7 people asked about VPN setup" instead of
seven lines. Clustering is scikit-learn's agglomerative clustering with average linkage on cosine
distance, cut at `DISTANCE_THRESHOLD`, so the number of clusters follows the data.

The threshold was chosen on `tests/knowledge/gap_fixture.py::TUNING_GROUPS` (26 teammate-style
questions, 5 groups of 3–4 and 3 singletons) with the product's embedder (all-MiniLM-L6-v2),
adjusted Rand index against the known groups:

    distance   0.60  0.70  0.75  0.80  0.85  0.90  0.95
    tuning     0.71  0.76  0.76  0.76  0.84  0.58  0.15
    held-out   0.37  0.37  0.57  0.62  0.69  0.34  0.08

0.85 is best on both sets (the held-out set was not used to choose it); above it unrelated groups
merge fast. Complete linkage did worse (its best: 0.80 tuning at 0.95, 0.48 held-out). Short
questions share "how do I …" phrasing, which is why the useful cut sits at a low similarity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from store.types import GapQuestion

DISTANCE_THRESHOLD = 0.85
"""Average-linkage cosine distance at which clusters stop merging (see the module docstring)."""
REPRESENTATIVES = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class GapCluster:
    """Questions about one missing piece of documentation.

    Attributes:
        questions: every question of the cluster, closest to the cluster's centroid first.
        channels: (channel, questions asked there), most questions first; DMs and private channels
            included, so only admins may see a cluster.
    """

    questions: tuple[GapQuestion, ...]
    channels: tuple[tuple[str, int], ...]

    @property
    def size(self) -> int:
        return len(self.questions)

    @property
    def representatives(self) -> tuple[GapQuestion, ...]:
        return self.questions[:REPRESENTATIVES]

    @property
    def abstained(self) -> int:
        return sum(q.abstained for q in self.questions)

    @property
    def downvoted(self) -> int:
        return sum(q.downvotes > 0 for q in self.questions)

    @property
    def last_asked_at(self) -> datetime:
        return max(q.asked_at for q in self.questions)


def cluster_labels(vectors: np.ndarray, *, distance_threshold: float = DISTANCE_THRESHOLD) -> list[int]:
    """A cluster number per row of `vectors` (scikit-learn needs two rows; one row is its own cluster)."""
    if len(vectors) < 2:
        return [0] * len(vectors)
    model = AgglomerativeClustering(n_clusters=None, distance_threshold=distance_threshold, metric="cosine",
                                    linkage="average")
    return [int(label) for label in model.fit_predict(vectors)]


def _by_centroid(members: list[int], vectors: np.ndarray) -> list[int]:
    """`members` ordered by cosine similarity to their mean direction, closest first (ties: input order)."""
    unit = vectors[members] / np.linalg.norm(vectors[members], axis=1, keepdims=True)
    centroid = unit.mean(axis=0)
    similarity = unit @ (centroid / (np.linalg.norm(centroid) or 1.0))
    order = sorted(range(len(members)), key=lambda i: (-float(similarity[i]), i))
    return [members[i] for i in order]


def cluster_gaps(questions: Sequence[GapQuestion], vectors: Sequence[Sequence[float]], *,
                 distance_threshold: float = DISTANCE_THRESHOLD) -> list[GapCluster]:
    """Group gap questions by meaning; biggest cluster first, then the most recently asked.

    Args:
        vectors: one embedding per question, in the same order.
    """
    if len(questions) != len(vectors):
        raise ValueError(f"{len(questions)} questions but {len(vectors)} vectors")
    if not questions:
        return []
    matrix = np.asarray(vectors, dtype=np.float64)
    members: dict[int, list[int]] = {}
    for index, label in enumerate(cluster_labels(matrix, distance_threshold=distance_threshold)):
        members.setdefault(label, []).append(index)
    clusters = []
    for indexes in members.values():
        ordered = tuple(questions[i] for i in _by_centroid(indexes, matrix))
        channels = Counter(q.channel for q in ordered if q.channel)
        clusters.append(GapCluster(questions=ordered, channels=tuple(channels.most_common())))
    return sorted(clusters, key=lambda c: (-c.size, -c.last_asked_at.timestamp()))
