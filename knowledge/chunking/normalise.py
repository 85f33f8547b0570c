"""Normalised text and its content hash, so whitespace-only edits are not changes (pure)."""

from __future__ import annotations

import hashlib
import unicodedata

from knowledge.chunking.sections import lf_newlines


def normalise_text(text: str) -> str:
    """`text` with NFC Unicode, LF newlines, no trailing spaces and no runs of blank lines."""
    text = lf_newlines(unicodedata.normalize("NFC", text))
    lines: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip("\n")


def content_hash(text: str) -> str:
    """sha256 hex of the normalised text: whitespace-only edits do not count as changes."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()
