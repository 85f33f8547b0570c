"""A whole document into numbered chunks, and its title: the format dispatch (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.chunking.asciidoc import asciidoc_sections
from knowledge.chunking.code import code_sections
from knowledge.chunking.markdown import markdown_sections
from knowledge.chunking.packing import DEFAULT_CHUNKING, ChunkingConfig, pack
from knowledge.chunking.rst import rst_sections
from knowledge.chunking.sections import lf_newlines
from knowledge.chunking.text import text_sections
from knowledge.markdown_source import front_matter

FORMATS = ("markdown", "rst", "asciidoc", "text", "code")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkText:
    """One passage: its position in the document, its heading path and its text."""

    ordinal: int
    heading: str
    text: str


def chunk_document(text: str, *, fmt: str, language: str | None = None,
                   config: ChunkingConfig = DEFAULT_CHUNKING) -> list[ChunkText]:
    """Split `text` of format `fmt` (one of FORMATS) into chunks numbered from 0.

    Args:
        language: for `fmt="code"`, the language name (as `knowledge.extraction` reports it) whose
            top-level definitions start sections; an unknown one packs blank-line separated blocks.
    """
    text = lf_newlines(text)
    if fmt == "markdown":
        sections = markdown_sections(text)
    elif fmt == "rst":
        sections = rst_sections(text)
    elif fmt == "asciidoc":
        sections = asciidoc_sections(text)
    elif fmt == "text":
        sections = text_sections(text.split("\n"))
    elif fmt == "code":
        sections = code_sections(text, language)
    else:
        raise ValueError(f"unknown document format {fmt!r}; expected one of {', '.join(FORMATS)}")
    chunks: list[ChunkText] = []
    for section in sections:
        for piece in pack(section.units, config):
            chunks.append(ChunkText(ordinal=len(chunks), heading=section.heading, text=piece))
    return chunks


def document_title(text: str, fmt: str) -> str:
    """A Markdown document's front-matter title, else the first top-level heading of a Markdown, RST
    or AsciiDoc document, or "" when it has none."""
    parse = {"markdown": markdown_sections, "rst": rst_sections, "asciidoc": asciidoc_sections}.get(fmt)
    if parse is None:
        return ""
    if fmt == "markdown" and (title := front_matter(lf_newlines(text).split("\n")).title):
        return title
    return next((section.heading for section in parse(lf_newlines(text)) if section.level == 1), "")
