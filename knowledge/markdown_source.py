"""Markdown source as front matter and top-level blocks (pure; adapter over markdown-it-py).

Block structure follows CommonMark as markdown-it-py parses it, so what counts as a heading is
what a renderer shows as one: after a list item, `---` is a thematic break rather than a setext
underline; `#` lines inside fences or indented code are code; a `#` without a following space is
text. Each block keeps its exact source lines, so passages quote the document as written.

Front matter is a YAML mapping between `---` lines (or TOML between `+++` lines) at the very start
of the document, as Jekyll, Hugo, MkDocs and Docusaurus write it. It is metadata (its `title`
names the document), never a passage. A leading `---` block that is not a mapping (a thematic
break followed by text) is left to the document.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from markdown_it import MarkdownIt

_PARSER = MarkdownIt("commonmark").enable("table")
_FRONT_MATTER_FENCES = {"---": re.compile(r"^(?:---|\.\.\.)[ \t]*$"), "+++": re.compile(r"^\+\+\+[ \t]*$")}
_CONTAINERS = frozenset(("paragraph_open", "bullet_list_open", "ordered_list_open", "blockquote_open",
                         "html_block"))


@dataclass(frozen=True, slots=True, kw_only=True)
class FrontMatter:
    """Front matter's parsed mapping and how many source lines it spans (0 when there is none)."""

    metadata: dict[str, Any]
    line_count: int

    @property
    def title(self) -> str:
        title = self.metadata.get("title")
        return " ".join(title.split()) if isinstance(title, str) else ""


NO_FRONT_MATTER = FrontMatter(metadata={}, line_count=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkdownBlock:
    """A top-level block: a heading (`level`, `text` its inline source), code, a table or text (source lines).

    Code carries its fence lines apart (`opener`, `closer`; empty for indented code) so that
    pieces of a long block can be fenced again; its lines may end in blank ones. A table's lines
    are its header row, its delimiter row and its body rows, one per line.
    """

    kind: Literal["heading", "code", "table", "text"]
    lines: tuple[str, ...] = ()
    level: int = 0
    text: str = ""
    opener: str = ""
    closer: str = ""


def front_matter(lines: list[str]) -> FrontMatter:
    """The document's front matter (see the module docstring), or NO_FRONT_MATTER."""
    closing = _FRONT_MATTER_FENCES.get(lines[0].rstrip()) if lines else None
    end = next((i for i in range(1, len(lines)) if closing.match(lines[i])), None) if closing else None
    if end is None:
        return NO_FRONT_MATTER
    source = "\n".join(lines[1:end])
    try:
        metadata = tomllib.loads(source) if lines[0].startswith("+") else yaml.safe_load(source)
    except (yaml.YAMLError, tomllib.TOMLDecodeError):
        return NO_FRONT_MATTER
    if not isinstance(metadata, dict) or not metadata:
        return NO_FRONT_MATTER
    return FrontMatter(metadata=metadata, line_count=end + 1)


def markdown_blocks(text: str) -> Iterator[MarkdownBlock]:
    """The top-level blocks of `text` (LF newlines) after its front matter, in document order.

    Thematic breaks carry no text and are left out; lists, quotes and HTML blocks are text.
    """
    lines = text.split("\n")
    skipped = front_matter(lines).line_count
    body = "\n".join([""] * skipped + lines[skipped:])  # blank lines keep token line numbers true
    tokens = _PARSER.parse(body)
    for index, token in enumerate(tokens):
        if token.level != 0 or token.map is None:
            continue
        start, end = token.map
        if token.type == "heading_open":
            yield MarkdownBlock(kind="heading", level=int(token.tag[1]), text=tokens[index + 1].content.strip())
        elif token.type == "fence":
            yield _fenced_block(lines[start:end], token.markup)
        elif token.type == "code_block":
            yield MarkdownBlock(kind="code", lines=tuple(lines[start:end]))
        elif token.type == "table_open":
            yield MarkdownBlock(kind="table", lines=tuple(line for line in lines[start:end] if line.strip()))
        elif token.type in _CONTAINERS:
            yield MarkdownBlock(kind="text", lines=tuple(lines[start:end]))


def _fenced_block(lines: list[str], marker: str) -> MarkdownBlock:
    """A fence's lines; an unclosed fence runs to the end of the document and is closed here."""
    closer = lines[-1].strip() if len(lines) > 1 else ""
    closed = len(closer) >= len(marker) and set(closer) == {marker[0]}
    body = lines[1:-1] if closed else lines[1:]
    return MarkdownBlock(kind="code", lines=tuple(body), opener=lines[0], closer=lines[-1] if closed else marker)
