"""A vector in pgvector's text form, for SQL that casts it (`CAST(:v AS vector)`, `halfvec`) (store)."""

from __future__ import annotations

from collections.abc import Iterable


def vector_literal(vector: Iterable[float]) -> str:
    """`[v1,v2,…]` with 7 significant digits (more than halfvec keeps, as much as float32 needs)."""
    return "[" + ",".join(f"{float(value):.7g}" for value in vector) + "]"
