"""Whether a quoted chunk begins inside a sentence (pure): its first quote is then shown after "…".

A chunk begins inside a sentence in two ways (knowledge/chunking/packing.py): it repeats the end of
the previous chunk's last paragraph from a word, when no sentence starts within `overlap_chars` of
its end ("… texts, against 0.98 for int8"); or the previous chunk ended with a code block that a
sentence goes on after ("For example, after:: >>> x = 1.2", then "the value stored for `x` is …").
Both are read from the chunk before it in the same document and section. A lower-case first word
alone, the test before, says neither: docs of pip, npm or git begin whole sentences with the tool's
name ("pip supports loading credentials from a user's `.netrc` file."), and 64 of the 563 chunks of
pip's docs were quoted after "…" by it (the answers to 9 of 41 teammate questions over those docs).
"""

from __future__ import annotations

from bot.passage_units import ABBREVIATIONS, Unit, split_units
from store.chunk_neighbours import PreviousChunk

_SENTENCE_END = (".", "!", "?")
"""What the chunker takes for a sentence's end when it picks where the repeated text starts."""


def may_be_cut(first: Unit) -> bool:
    """Whether a chunk's first unit could be the rest of a cut sentence: a sentence opening in lower case
    (only then is the chunk before it worth reading)."""
    # "(or code block) is finished …" is as much a cut sentence
    return first.kind == "sentence" and first.text.lstrip("([")[:1].islower()


def starts_mid_sentence(first: Unit, text: str, heading: str, previous: PreviousChunk | None) -> bool:
    """Whether the chunk `text` (under `heading`, `first` its first unit) begins inside a sentence, given the
    chunk before it."""
    if not may_be_cut(first) or previous is None or previous.heading != heading:
        return False  # a document's or a section's first chunk begins where its author began
    paragraph = text.lstrip().split("\n\n", 1)[0].strip()
    before = previous.text.rstrip()
    if paragraph and before.endswith(paragraph):  # the end of the previous chunk, repeated
        head = before[:-len(paragraph)].rstrip().rstrip("\"')]")
        return not head.endswith(_SENTENCE_END) or head.endswith(ABBREVIATIONS)  # "(e.g. one put to …"
    last = split_units(previous.text)
    return bool(last) and last[-1].kind == "code"
