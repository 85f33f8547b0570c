"""How sure is the gate that the candidate is better? A paired, stratified bootstrap (pure).

Every held-out row is scored by both models, so the row-level differences (candidate minus serving
log-likelihood) carry the comparison. The gain is the mean difference on 👍 rows minus the mean
difference on 👎 rows, which equals the candidate's reward margin minus the serving model's; with
no 👎 rows it is the mean difference on 👍 rows alone. The bootstrap resamples 👍 rows and 👎 rows
separately (each class keeps its size), with a fixed seed so a verdict can be reproduced, and the
lower bound is the (1 - confidence) quantile of the resampled gains: a one-sided percentile bound.

The percentile bootstrap is somewhat optimistic for very small classes (it ignores the n/(n-1)
variance correction), which is one more reason the gate also demands a minimum count per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True, kw_only=True)
class GainEstimate:
    """The candidate's improvement over the serving model on the held-out rows.

    Attributes:
        statistic: "reward margin" (👍 and 👎 rows) or "👍 log-likelihood" (👍 rows only).
        point: the measured gain (mean nats per completion token).
        lower: the one-sided lower confidence bound of the gain.
        confidence: e.g. 0.95 for a 95% one-sided bound.
        resamples: bootstrap resamples drawn.
        n_good, n_bad: held-out 👍 and 👎 rows.
    """

    statistic: str
    point: float
    lower: float
    confidence: float
    resamples: int
    n_good: int
    n_bad: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _differences(candidate: Sequence[float], current: Sequence[float]) -> np.ndarray:
    if len(candidate) != len(current):
        raise ValueError(f"both models must score the same rows, got {len(candidate)} and {len(current)}")
    return np.asarray(candidate, dtype=float) - np.asarray(current, dtype=float)


def _resampled_means(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    return values[picks].mean(axis=1)


def paired_gain(*, candidate_good: Sequence[float], current_good: Sequence[float],
                candidate_bad: Sequence[float] = (), current_bad: Sequence[float] = (),
                resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> GainEstimate:
    """The gain of the candidate over the serving model with its bootstrap lower bound.

    Raises:
        ValueError: no 👍 rows, or the two models scored different numbers of rows.
    """
    good = _differences(candidate_good, current_good)
    bad = _differences(candidate_bad, current_bad)
    if len(good) == 0:
        raise ValueError("the gain needs at least one held-out 👍 row")
    rng = np.random.default_rng(seed)
    gains = _resampled_means(good, resamples, rng)
    point = float(good.mean())
    if len(bad):
        gains = gains - _resampled_means(bad, resamples, rng)
        point -= float(bad.mean())
    return GainEstimate(statistic="reward margin" if len(bad) else "👍 log-likelihood", point=point,
                        lower=float(np.quantile(gains, 1.0 - confidence)), confidence=confidence,
                        resamples=resamples, n_good=len(good), n_bad=len(bad))
