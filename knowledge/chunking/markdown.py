"""Markdown into sections, from the CommonMark blocks `knowledge.markdown_source` reads (pure)."""

from __future__ import annotations

from knowledge.chunking.sections import Section, SectionBuilder, code_unit, table_unit, without_trailing_blanks
from knowledge.markdown_source import markdown_blocks


def markdown_sections(text: str) -> list[Section]:
    """Sections of CommonMark blocks (`knowledge.markdown_source`); text blocks split at blank lines,
    a table kept as one unit (packing cuts a long one between rows, its header on every piece)."""
    builder = SectionBuilder()
    for block in markdown_blocks(text):
        if block.kind == "heading":
            builder.open(block.level, block.text)
        elif block.kind == "code":
            builder.add(code_unit(without_trailing_blanks(list(block.lines)), block.opener, block.closer))
        elif block.kind == "table":
            builder.add(table_unit(list(block.lines[:2]), list(block.lines[2:])))
        else:
            paragraph: list[str] = []
            for line in block.lines:
                if line.strip():
                    paragraph.append(line)
                else:
                    builder.add_paragraph(paragraph)
            builder.add_paragraph(paragraph)
    return builder.sections
