"""What the embedder reads for a chunk: its text under the title and heading path (pure)."""

from __future__ import annotations

from knowledge.chunking.sections import HEADING_SEPARATOR


def heading_leaf(title: str, heading: str) -> str:
    """What a chunk's heading vector embeds: the innermost heading, or the title when there is none."""
    leaf = heading.strip().split(HEADING_SEPARATOR.strip())[-1].strip() if heading.strip() else ""
    return leaf or title.strip()


def embedding_input(title: str, heading: str, text: str) -> str:
    """The text the embedder sees: title and heading path as context above the chunk text."""
    title, heading = title.strip(), heading.strip()
    if title and (heading == title or heading.startswith(title + HEADING_SEPARATOR)):
        title = ""  # the heading path already starts with the title (a leading `# Title`)
    context = HEADING_SEPARATOR.join(part for part in (title, heading) if part)
    return f"{context}\n\n{text}" if context else text
