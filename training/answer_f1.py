"""Token F1 of a generated answer against a teammate's reference answer (pure).

SQuAD-style, like the quality bench (bench/answer_metrics.py, which training must not import):
lower case, punctuation and articles removed, bag-of-words overlap.
"""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalise_tokens(text: str) -> list[str]:
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split()


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall; 0.0 when either side is empty or nothing overlaps."""
    predicted, expected = normalise_tokens(prediction), normalise_tokens(reference)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)
