"""Exact and near-duplicate detection for dataset examples (pure).

Exact duplicates share the sha256 of their normalised text. Near duplicates share most of their
word 3-gram shingles: candidates come from MinHash banding (so a large dataset is not compared
pair by pair) and are confirmed with the exact Jaccard similarity, so the threshold means what it
says.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+")
_PRIME = (1 << 61) - 1
_PERMUTATIONS = 32
_BANDS = 8  # 8 bands of 4 rows: a pair at Jaccard 0.9 becomes a candidate with p > 0.999
_ROWS = _PERMUTATIONS // _BANDS
_rng = np.random.default_rng(20261123)
_A = _rng.integers(1, 1 << 31, size=_PERMUTATIONS, dtype=np.uint64)
_B = _rng.integers(0, 1 << 31, size=_PERMUTATIONS, dtype=np.uint64)


def normalise(text: str) -> str:
    """Lower-cased words separated by single spaces: what two texts must share to be 'the same'."""
    return " ".join(_WORD.findall(text.lower()))


def content_key(*parts: str) -> str:
    """sha256 of the normalised parts: the exact-duplicate key."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(normalise(part).encode())
        digest.update(b"\x1f")
    return digest.hexdigest()


def shingles(text: str, size: int = 3) -> frozenset[str]:
    """Word `size`-grams of the normalised text (the whole text when it is shorter)."""
    words = normalise(text).split()
    if len(words) <= size:
        return frozenset([" ".join(words)])
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


def _signature(items: frozenset[str]) -> np.ndarray:
    hashes = np.array([int.from_bytes(hashlib.blake2b(s.encode(), digest_size=4).digest(), "big") for s in items],
                      dtype=np.uint64)
    return ((_A[:, None] * hashes[None, :] + _B[:, None]) % _PRIME).min(axis=1)


def near_duplicates(texts: Sequence[str], threshold: float) -> dict[int, int]:
    """Indices of texts that nearly duplicate an earlier text, mapped to that earlier index.

    Earlier texts win, so callers order `texts` by preference (e.g. oldest first).
    """
    sets = [shingles(text) for text in texts]
    buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    duplicates: dict[int, int] = {}
    for index, items in enumerate(sets):
        signature = _signature(items)
        keys = [(band, signature[band * _ROWS : (band + 1) * _ROWS].tobytes()) for band in range(_BANDS)]
        candidates = sorted({other for key in keys for other in buckets.get(key, ())})
        match = next((other for other in candidates if jaccard(items, sets[other]) >= threshold), None)
        if match is not None:
            duplicates[index] = match
            continue  # a duplicate is dropped, so later texts are compared with what was kept only
        for key in keys:
            buckets[key].append(index)
    return duplicates
