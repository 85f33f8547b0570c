"""Retrieval and answer-quality metrics (pure): hit@k, MRR, token precision/recall/F1, citations."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalise_tokens(text: str) -> list[str]:
    """SQuAD-style normalisation: lower case, no punctuation, no articles, split on whitespace."""
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split()


@dataclass(frozen=True, slots=True)
class TokenScores:
    precision: float
    recall: float
    f1: float


def token_scores(prediction: str, gold: str) -> TokenScores:
    """Bag-of-tokens overlap between a generated answer and the gold answer."""
    predicted, expected = normalise_tokens(prediction), normalise_tokens(gold)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if not predicted or not expected or common == 0:
        return TokenScores(0.0, 0.0, 0.0)
    precision, recall = common / len(predicted), common / len(expected)
    return TokenScores(precision, recall, 2 * precision * recall / (precision + recall))


def first_hit_rank(relevant: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant result, None when there is none."""
    return next((rank for rank, hit in enumerate(relevant, start=1) if hit), None)


def hit_at(ranks: Sequence[int | None], k: int) -> float:
    """Share of queries with a relevant result in the top k."""
    return sum(1 for rank in ranks if rank is not None and rank <= k) / len(ranks) if ranks else 0.0


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float:
    return sum(1.0 / rank for rank in ranks if rank is not None) / len(ranks) if ranks else 0.0


def overlap_share(passage: str, gold: str) -> float:
    """Share of the passage's distinct tokens that occur in the gold text."""
    passage_tokens = set(normalise_tokens(passage))
    return len(passage_tokens & set(normalise_tokens(gold))) / len(passage_tokens) if passage_tokens else 0.0


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a share (95% by default): what a share measured on a few dozen
    questions can honestly claim. (0, 1) when there are no trials.

    Written here rather than imported: it is one formula, and statsmodels would be a dependency for it.
    """
    if trials == 0:
        return 0.0, 1.0
    share = successes / trials
    centre = share + z * z / (2 * trials)
    spread = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    denominator = 1 + z * z / trials
    return round(max(0.0, (centre - spread) / denominator), 4), round(min(1.0, (centre + spread) / denominator), 4)
