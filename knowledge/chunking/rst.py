"""reStructuredText into sections: underlined titles, code directives and `::` literal blocks (pure)."""

from __future__ import annotations

import re

from knowledge.chunking.sections import Section, SectionBuilder, code_unit, indent

_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}[ \t]*$")
_RST_CODE_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+(?:code-block|code|sourcecode)::")


def _indented_block(lines: list[str], start: int, base_indent: int) -> tuple[list[str], int]:
    """Lines from `start` indented deeper than `base_indent` (blank lines inside kept), and the end."""
    end = start
    while end < len(lines) and (not lines[end].strip() or indent(lines[end]) > base_indent):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    block = lines[start:end]
    while block and not block[0].strip():
        block.pop(0)
    return block, end


def _rst_title(lines: list[str], i: int) -> tuple[str, tuple[str, bool], int] | None:
    """The section title starting at line `i` as (title, adornment style, lines used), if any."""
    line = lines[i]
    following = lines[i + 1] if i + 1 < len(lines) else ""
    if (over := _RST_ADORNMENT.match(line)) and following.strip() and i + 2 < len(lines):
        under = _RST_ADORNMENT.match(lines[i + 2])
        if under and under.group(1) == over.group(1):
            return following.strip(), (over.group(1), True), 3
    if line.strip() and not line[0].isspace() and not _RST_ADORNMENT.match(line):
        under = _RST_ADORNMENT.match(following)
        if under and len(following.rstrip()) >= len(line.rstrip()):
            return line.strip(), (under.group(1), False), 2
    return None


def rst_sections(text: str) -> list[Section]:
    """Sections of RST titles (levels in order of first appearance); code directives and literal blocks whole."""
    lines = text.split("\n")
    builder = SectionBuilder()
    styles: list[tuple[str, bool]] = []  # RST levels are the order in which adornment styles appear
    paragraph: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not paragraph and (title := _rst_title(lines, i)):
            heading, style, used = title
            if style not in styles:
                styles.append(style)
            builder.open(styles.index(style) + 1, heading)
            i += used
            continue
        if not paragraph and (directive := _RST_CODE_DIRECTIVE.match(line)):
            body, i = _indented_block(lines, i + 1, len(directive.group(1)))
            builder.add(code_unit(body, line + "\n"))
            continue
        if line.strip():
            paragraph.append(line)
            i += 1
            continue
        introduces_literal = bool(paragraph) and paragraph[-1].rstrip().endswith("::")
        base_indent = indent(paragraph[0]) if paragraph else 0
        builder.add_paragraph(paragraph)
        if introduces_literal:
            body, i = _indented_block(lines, i, base_indent)
            builder.add(code_unit(body))
        else:
            i += 1
    builder.add_paragraph(paragraph)
    for section in builder.sections:  # a lone adornment line is a transition: it carries no text
        section.units = [unit for unit in section.units if not _RST_ADORNMENT.match(unit.text)]
    return builder.sections
