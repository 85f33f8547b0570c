"""Plain text into sections: paragraphs, and headings copied from rendered pages (pure)."""

from __future__ import annotations

from knowledge.chunking.sections import Section, SectionBuilder


def text_sections(lines: list[str]) -> list[Section]:
    """Paragraphs; a line ending in "¶" is a heading copied from a rendered page and opens a section."""
    builder = SectionBuilder()
    paragraph: list[str] = []
    for line in lines:
        if line.rstrip().endswith("¶") and line.strip() != "¶":
            builder.add_paragraph(paragraph)
            builder.open(1, line)
        elif line.strip():
            paragraph.append(line)
        else:
            builder.add_paragraph(paragraph)
    builder.add_paragraph(paragraph)
    return builder.sections
