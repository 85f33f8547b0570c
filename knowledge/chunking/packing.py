"""Packing a section's units into chunks of at most `max_chars`, with prose overlap (pure).

Paragraphs are packed together and consecutive chunks of one section share about
`overlap_chars` of prose, so a sentence cut at a boundary is still found. Code and tables are
never overlapped: a fragment repeated out of context misleads more than it helps. Only a unit
longer than a chunk is cut: prose at sentence or word ends, code on line boundaries, a table
between rows with its header and delimiter rows repeated on every piece (a row read without its
column names loses its meaning; cut inside, half a row would be quoted as a sentence).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from knowledge.chunking.sections import Unit, code_unit, table_unit

MIN_MAX_CHARS = 64


CHUNKER_VERSION = 2
"""Bumped whenever the same text would be cut into different chunks. 1: before versions were recorded
(documents stored then have no signature); 2: Markdown tables cut between rows, header on every piece."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkingConfig:
    """How big chunks get.

    Attributes:
        max_chars: longest chunk text; 1,000 characters fit MiniLM's 256-token window.
        overlap_chars: prose repeated from the end of a chunk at the start of the next one in the
            same section; at most half of `max_chars`.
    """

    max_chars: int = 1000
    overlap_chars: int = 150

    def signature(self) -> str:
        """Which chunker cut a document, and at what size: stored with it, so a document chunked by an
        older chunker (or another size) is re-chunked when its source is added or refreshed again."""
        return f"v{CHUNKER_VERSION}/{self.max_chars}/{self.overlap_chars}"

    def __post_init__(self) -> None:
        if self.max_chars < MIN_MAX_CHARS:
            raise ValueError(f"`max_chars` must be at least {MIN_MAX_CHARS}, got {self.max_chars}")
        if not 0 <= self.overlap_chars <= self.max_chars // 2:
            raise ValueError(
                f"`overlap_chars` must be between 0 and max_chars // 2 ({self.max_chars // 2}), "
                f"got {self.overlap_chars}"
            )


DEFAULT_CHUNKING = ChunkingConfig()


def _size(units: list[Unit]) -> int:
    return sum(len(unit.text) for unit in units) + 2 * max(len(units) - 1, 0)


def pack(units: list[Unit], config: ChunkingConfig) -> list[str]:
    """Greedy packing of whole units into chunks of at most `max_chars`, with prose overlap."""
    chunks: list[str] = []
    current: list[Unit] = []
    for unit in _fitted(units, config):
        if current and _size([*current, unit]) > config.max_chars:
            carried: list[Unit] = []
            intro = current[-1]
            # Keep "Run this:" with the code (or "These are:" with the table) it introduces when they fit.
            if (unit.kind in ("code", "table") and intro.kind == "prose" and intro.text.rstrip().endswith(":")
                    and len(current) > 1 and _size([intro, unit]) <= config.max_chars):
                carried = [current.pop()]
            if any(not u.carried for u in current):
                chunks.append("\n\n".join(u.text for u in current))
            if not carried and current[-1].kind == "prose" and unit.kind == "prose":
                tail = _overlap_tail(current[-1].text, config.overlap_chars)
                if tail and len(tail) + 2 + len(unit.text) <= config.max_chars:
                    carried = [Unit(tail, carried=True)]
            current = carried
        current.append(unit)
    if any(not u.carried for u in current):
        chunks.append("\n\n".join(u.text for u in current))
    return chunks


def _fitted(units: list[Unit], config: ChunkingConfig) -> Iterator[Unit]:
    """Units no longer than a chunk: oversized prose and code are cut into pieces."""
    for unit in units:
        if unit.kind == "prose":
            # Room for the overlap, so a piece always fits after the tail of the previous chunk.
            for piece in _split_prose(unit.text, config.max_chars - config.overlap_chars):
                yield Unit(piece)
        elif len(unit.text) <= config.max_chars:
            yield unit
        elif unit.kind == "table":
            yield from _split_table(unit, config.max_chars)
        else:
            yield from _split_code(unit, config.max_chars)


_SENTENCE_GAP = re.compile(r"(?<=[.!?;:])\s+|\n")
_WORD_GAP = re.compile(r"\s+")


def _split_keeping(text: str, gap: re.Pattern[str]) -> list[str]:
    parts, start = [], 0
    for match in gap.finditer(text):
        parts.append(text[start:match.end()])
        start = match.end()
    if start < len(text):
        parts.append(text[start:])
    return parts


def _prose_atoms(text: str, budget: int) -> Iterator[str]:
    for sentence in _split_keeping(text, _SENTENCE_GAP):
        if len(sentence) <= budget:
            yield sentence
            continue
        for word in _split_keeping(sentence, _WORD_GAP):
            if len(word) <= budget:
                yield word
            else:
                yield from (word[i:i + budget] for i in range(0, len(word), budget))


def _split_prose(text: str, budget: int) -> list[str]:
    """`text` in pieces of at most `budget` chars, cut at line or sentence ends, else between words."""
    if len(text) <= budget:
        return [text]
    pieces: list[str] = []
    for atom in _prose_atoms(text, budget):
        if pieces and len(pieces[-1]) + len(atom) <= budget:
            pieces[-1] += atom
        else:
            pieces.append(atom)
    return [piece.strip() for piece in pieces if piece.strip()]


def _overlap_tail(text: str, overlap_chars: int) -> str:
    """The end of `text`, at most `overlap_chars` long, starting at a sentence or at least a word."""
    if overlap_chars == 0 or len(text) <= overlap_chars:
        return text if overlap_chars else ""
    window = text[-overlap_chars:]
    for gap in (re.compile(r"(?<=[.!?])\s+"), _WORD_GAP):
        if (match := gap.search(window)) and window[match.end():].strip():
            return window[match.end():]
    return window.strip()


def _split_code(unit: Unit, max_chars: int) -> list[Unit]:
    opener, closer = unit.opener, unit.closer
    budget = max_chars - len(opener) - len(closer) - 2
    if budget < max_chars // 2:  # a fence line too long to repeat on every piece
        opener, closer, budget = "", "", max_chars
    return [code_unit(piece.split("\n"), opener, closer) for piece in _split_lines(unit.body.split("\n"), budget)]


def _split_table(unit: Unit, max_chars: int) -> list[Unit]:
    """A table's rows in pieces of at most `max_chars`, each starting with the header and delimiter rows.

    A row too long to fit beside the header is cut as prose (sentence, then word ends); a header
    longer than half a chunk is not repeated (each piece would be mostly header).
    """
    head = unit.opener.split("\n")
    budget = max_chars - len(unit.opener) - 1
    if budget < max_chars // 2:
        head, budget = [], max_chars
    pieces: list[list[str]] = [[]]
    for row in unit.body.split("\n"):
        for part in _split_prose(row, budget):  # the row itself when it fits
            if pieces[-1] and len("\n".join([*pieces[-1], part])) > budget:
                pieces.append([])
            pieces[-1].append(part)
    return [table_unit(head, rows) for rows in pieces if rows]


def _split_lines(lines: list[str], budget: int) -> list[str]:
    """Lines packed into pieces of at most `budget` chars, preferring to cut at a blank line."""
    wrapped = [line[i:i + budget] for line in lines for i in range(0, max(len(line), 1), budget)]
    pieces: list[str] = []
    current: list[str] = []
    for line in wrapped:
        while current and len("\n".join(current)) + 1 + len(line) > budget:
            cut = len(current)
            blanks = [k for k, text in enumerate(current) if not text.strip() and k > 0]
            if blanks and len("\n".join(current[:blanks[-1]])) >= budget // 2:
                cut = blanks[-1]
            pieces.append("\n".join(current[:cut]))
            current = current[cut:]
            while current and not current[0].strip():
                current.pop(0)
        current.append(line)
    pieces.append("\n".join(current))
    return [piece for piece in pieces if piece.strip()]
