"""Structure-aware splitting of document text into retrievable passages (pure).

MiniLM reads 256 word pieces, about 1,000 characters of English, so chunks are packed up to
`max_chars`. The splitter follows the document's own structure so that a passage rarely starts
mid-thought:

* sections come from headings (Markdown `#` and setext as CommonMark reads them, front matter
  left out; reStructuredText underlined titles; AsciiDoc `=` lines; HTML arrives here already
  turned into Markdown) and each chunk carries its heading path ("Guide › Install › Linux"). A
  permalink sign left after a heading ("Install¶", as text copied from a Sphinx page has it) is
  not part of it, and in plain text a line of its own ending in "¶" is such a copied heading;
* fenced code blocks, RST literal blocks and AsciiDoc listing/literal blocks stay whole; only a
  block longer than `max_chars` is cut on line boundaries, each piece fenced again. AsciiDoc blocks
  become Markdown fences (```python for a `[source,python]` block), as HTML's <pre> does, so that
  whoever quotes a chunk sees one kind of code block; an AsciiDoc `term::` entry stays with its
  description;
* paragraphs are packed together, and consecutive chunks of one section share about
  `overlap_chars` of prose, so a sentence cut at a boundary is still found. Code is never
  overlapped: a fragment of code repeated out of context misleads more than it helps;
* source code gets one section per top-level definition (def, class, func, fn, ...), with the
  decorators and comments just above it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from knowledge.markdown_source import front_matter, markdown_blocks

HEADING_SEPARATOR = " › "
FORMATS = ("markdown", "rst", "asciidoc", "text", "code")
MIN_MAX_CHARS = 64


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

    def __post_init__(self) -> None:
        if self.max_chars < MIN_MAX_CHARS:
            raise ValueError(f"`max_chars` must be at least {MIN_MAX_CHARS}, got {self.max_chars}")
        if not 0 <= self.overlap_chars <= self.max_chars // 2:
            raise ValueError(
                f"`overlap_chars` must be between 0 and max_chars // 2 ({self.max_chars // 2}), "
                f"got {self.overlap_chars}"
            )


DEFAULT_CHUNKING = ChunkingConfig()


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
    text = _lf_newlines(text)
    if fmt == "markdown":
        sections = _markdown_sections(text)
    elif fmt == "rst":
        sections = _rst_sections(text)
    elif fmt == "asciidoc":
        sections = _asciidoc_sections(text)
    elif fmt == "text":
        sections = _text_sections(text.split("\n"))
    elif fmt == "code":
        sections = _code_sections(text, language)
    else:
        raise ValueError(f"unknown document format {fmt!r}; expected one of {', '.join(FORMATS)}")
    chunks: list[ChunkText] = []
    for section in sections:
        for piece in _pack(section.units, config):
            chunks.append(ChunkText(ordinal=len(chunks), heading=section.heading, text=piece))
    return chunks


def document_title(text: str, fmt: str) -> str:
    """A Markdown document's front-matter title, else the first top-level heading of a Markdown, RST
    or AsciiDoc document, or "" when it has none."""
    parse = {"markdown": _markdown_sections, "rst": _rst_sections, "asciidoc": _asciidoc_sections}.get(fmt)
    if parse is None:
        return ""
    if fmt == "markdown" and (title := front_matter(_lf_newlines(text).split("\n")).title):
        return title
    return next((section.heading for section in parse(_lf_newlines(text)) if section.level == 1), "")


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


def normalise_text(text: str) -> str:
    """`text` with NFC Unicode, LF newlines, no trailing spaces and no runs of blank lines."""
    text = _lf_newlines(unicodedata.normalize("NFC", text))
    lines: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip("\n")


def content_hash(text: str) -> str:
    """sha256 hex of the normalised text: whitespace-only edits do not count as changes."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


def _lf_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- sections and units -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Unit:
    """A paragraph or a code block; code carries its fence so pieces of it can be fenced again."""

    text: str
    kind: Literal["prose", "code"] = "prose"
    opener: str = ""
    body: str = ""
    closer: str = ""
    carried: bool = False  # an overlap copied from the previous chunk


def _code_unit(lines: list[str], opener: str = "", closer: str = "") -> _Unit:
    body = "\n".join(lines)
    return _Unit("\n".join(part for part in (opener, body, closer) if part), "code", opener, body, closer)


@dataclass(slots=True)
class _Section:
    heading: str
    units: list[_Unit] = field(default_factory=list)
    level: int = 0  # of the heading that opened it; 0 before the first heading


class _SectionBuilder:
    """Keeps the open heading path and the section that units are added to."""

    def __init__(self) -> None:
        self.sections = [_Section("")]
        self._path: list[tuple[int, str]] = []

    def open(self, level: int, title: str) -> None:
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, _PERMALINK_TAIL.sub("", title.strip())))
        self.sections.append(_Section(HEADING_SEPARATOR.join(t for _, t in self._path if t), level=level))

    def add(self, unit: _Unit) -> None:
        if unit.text.strip():
            self.sections[-1].units.append(unit)

    def add_paragraph(self, lines: list[str]) -> None:
        self.add(_Unit("\n".join(_PILCROW_TAIL.sub("", line) for line in lines).strip("\n")))
        lines.clear()


_PERMALINK_TAIL = re.compile(r"[ \t]*[¶§🔗⚓]\ufe0f?[ \t]*$")
"""A permalink sign after a heading, as text copied from a Sphinx or MkDocs page carries it."""
_PILCROW_TAIL = re.compile(r"[ \t]*¶[ \t]*$")


def _text_sections(lines: list[str]) -> list[_Section]:
    """Paragraphs; a line ending in "¶" is a heading copied from a rendered page and opens a section."""
    builder = _SectionBuilder()
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


# --- Markdown -----------------------------------------------------------------------------------

def _markdown_sections(text: str) -> list[_Section]:
    """Sections of CommonMark blocks (`knowledge.markdown_source`); text blocks split at blank lines."""
    builder = _SectionBuilder()
    for block in markdown_blocks(text):
        if block.kind == "heading":
            builder.open(block.level, block.text)
        elif block.kind == "code":
            builder.add(_code_unit(_without_trailing_blanks(list(block.lines)), block.opener, block.closer))
        else:
            paragraph: list[str] = []
            for line in block.lines:
                if line.strip():
                    paragraph.append(line)
                else:
                    builder.add_paragraph(paragraph)
            builder.add_paragraph(paragraph)
    return builder.sections


# --- AsciiDoc -----------------------------------------------------------------------------------

_ADOC_TITLE = re.compile(r"^(={1,6})[ \t]+(\S.*?)(?:[ \t]+=+)?[ \t]*$")
_ADOC_UNDERLINES = {"=": 1, "-": 2, "~": 3, "^": 4, "+": 5}  # two-line (setext) titles
_ADOC_CODE_DELIMITER = re.compile(r"^(?:-{4,}|\.{4,}|\+{4,})[ \t]*$")  # listing, literal, passthrough
_ADOC_FENCE = re.compile(r"^(`{3,})")
_ADOC_COMMENT_DELIMITER = re.compile(r"^/{4,}[ \t]*$")
_ADOC_COMPOUND_DELIMITER = re.compile(r"^(?:={4,}|\*{4,}|_{4,}|--)[ \t]*$")  # example, sidebar, quote, open
_ADOC_TABLE_DELIMITER = re.compile(r"^[|!,:]={3,}[ \t]*$")
_ADOC_BLOCK_ATTRIBUTES = re.compile(r"^(?:\[(?:|[#.%]?[\w{,.#\"'%].*)\]|\[\[[^\]]+\]\])[ \t]*$")
_ADOC_SOURCE_LANGUAGE = re.compile(r"^\[(?:source)?,[ \t]*([\w+#.-]+)")
_ADOC_BLOCK_TITLE = re.compile(r"^\.([^\s.].*)$")
_ADOC_SKIPPED_LINE = re.compile(
    r"^(?://(?!/)"  # a line comment
    r"|:!?\w[\w-]*!?:(?:[ \t].*)?$"  # an attribute entry such as `:toc: left`
    r"|(?:include|ifdef|ifndef|ifeval|endif)::\S*\[.*\][ \t]*$|toc::\[\])"  # preprocessor directives
)
_ADOC_DLIST = re.compile(r"^[ \t]*(\S(?:.*?\S)?)(?::{2,4}|;;)(?:[ \t]+(.*))?$")
_ADOC_DOCUMENT_TITLE = re.compile(r"^=[ \t]+\S")
_ADOC_SECTION = re.compile(r"^={2,6}[ \t]+\S")


def looks_like_asciidoc(text: str) -> bool:
    """Whether plain text is clearly AsciiDoc: a `= Title` first line and `==` section lines, or a
    `----` (or `....`) delimited block that opens after a blank or attribute line and closes again.

    A block's delimiter must be shorter than its longest line: an reStructuredText overlined title
    and a text box drawn with ruler lines have lines as long as the text between them.
    """
    lines = _lf_newlines(text).split("\n")
    first = next((line for line in lines if line.strip() and not _ADOC_SKIPPED_LINE.match(line)), "")
    if _ADOC_DOCUMENT_TITLE.match(first) and any(_ADOC_SECTION.match(line) for line in lines):
        return True
    for i, line in enumerate(lines[:-2]):
        before = lines[i - 1] if i else ""
        if (re.fullmatch(r"-{4,}|\.{4,}", line.rstrip()) and lines[i + 1].strip()
                and (not before.strip() or _ADOC_BLOCK_ATTRIBUTES.match(before) or _ADOC_BLOCK_TITLE.match(before))):
            end = _closing_delimiter(lines, i)
            if (end is not None and end > i + 1 and lines[end - 1].strip()
                    and len(line.rstrip()) < max(len(body.rstrip()) for body in lines[i + 1:end])):
                return True
    return False


def _closing_delimiter(lines: list[str], start: int) -> int | None:
    """The line that closes the delimited block opened at `start` (the same delimiter), if any."""
    delimiter = lines[start].rstrip()
    if fence := _ADOC_FENCE.match(delimiter):
        delimiter = fence.group(1)
    return next((j for j in range(start + 1, len(lines)) if lines[j].rstrip() == delimiter), None)


def _adoc_code_unit(lines: list[str], language: str) -> _Unit:
    """An AsciiDoc listing or literal block as a Markdown fence (what HTML's <pre> becomes too)."""
    fence = "```"
    while any(fence in line for line in lines):
        fence += "`"
    return _code_unit(lines, fence + language, fence)


def _adoc_underlined_title(lines: list[str], i: int) -> tuple[int, str] | None:
    """A two-line title at line `i`: a text line underlined with =, -, ~, ^ or + of its length ±1
    (unless the underline opens a delimited block that closes further down)."""
    title, underline = lines[i].strip(), lines[i + 1].rstrip() if i + 1 < len(lines) else ""
    if (len(underline) >= 2 and underline[0] in _ADOC_UNDERLINES and underline == underline[0] * len(underline)
            and abs(len(title) - len(underline)) <= 1 and re.match(r"\w", title)
            and not (_adoc_structural(underline) and _closing_delimiter(lines, i + 1) is not None)):
        return _ADOC_UNDERLINES[underline[0]], title
    return None


def _adoc_dlist_entry(lines: list[str], i: int, description: str | None) -> tuple[list[str], int]:
    """A `term:: description` entry: the term line and its description, which may start on a later line."""
    entry, j = [lines[i]], i + 1
    if not description:
        k = j
        while k < len(lines) and not lines[k].strip():
            k += 1
        if k == len(lines) or _adoc_structural(lines[k]) or _ADOC_DLIST.match(lines[k]):
            return entry, j
        j = k
    while (j < len(lines) and lines[j].strip() and not _ADOC_DLIST.match(lines[j])
           and not _adoc_structural(lines[j])):
        if not _ADOC_SKIPPED_LINE.match(lines[j]):
            entry.append(lines[j])
        j += 1
    return entry, j


def _adoc_structural(line: str) -> bool:
    """A line that starts something other than a paragraph: a title, delimiter or attribute list."""
    return bool(_ADOC_TITLE.match(line) or _ADOC_CODE_DELIMITER.match(line) or _ADOC_FENCE.match(line)
                or _ADOC_COMMENT_DELIMITER.match(line) or _ADOC_COMPOUND_DELIMITER.match(line)
                or _ADOC_TABLE_DELIMITER.match(line) or _ADOC_BLOCK_ATTRIBUTES.match(line) or line.strip() == "+")


def _asciidoc_sections(text: str) -> list[_Section]:
    lines = text.split("\n")
    builder = _SectionBuilder()
    paragraph: list[str] = []
    language = ""  # of the next listing block, from a `[source,python]` line
    i = 0
    while i < len(lines):
        line, stripped = lines[i], lines[i].strip()
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not paragraph and stripped and (title := _adoc_underlined_title(lines, i)):
            builder.open(*title)
            i += 2
            continue
        delimited = (_ADOC_CODE_DELIMITER.match(line) or _ADOC_FENCE.match(line)
                     or _ADOC_COMMENT_DELIMITER.match(line) or _ADOC_TABLE_DELIMITER.match(line))
        end = _closing_delimiter(lines, i) if delimited else None
        if end is not None:
            builder.add_paragraph(paragraph)
            body = lines[i + 1:end] if any(row.strip() for row in lines[i + 1:end]) else []
            if not body:
                pass
            elif _ADOC_TABLE_DELIMITER.match(line):  # a table is one unit, its rows on lines of their own
                builder.add(_Unit("\n".join(row for row in body if row.strip())))
            elif fence := _ADOC_FENCE.match(line):
                builder.add(_adoc_code_unit(body, line[len(fence.group(1)):].strip()))
            elif not _ADOC_COMMENT_DELIMITER.match(line):
                builder.add(_adoc_code_unit(body, language))
            language = ""
            i = end + 1
            continue
        if _ADOC_COMPOUND_DELIMITER.match(line) or stripped == "+":
            builder.add_paragraph(paragraph)  # example, sidebar, quote and open blocks hold ordinary text
        elif _ADOC_BLOCK_ATTRIBUTES.match(line) and (not paragraph or _adoc_structural(following)):
            builder.add_paragraph(paragraph)  # `[source,python]`, `[NOTE]`, `[[anchor]]`: not text
            source = _ADOC_SOURCE_LANGUAGE.match(stripped)
            language = source.group(1) if source else ""
        elif not paragraph and (title := _ADOC_TITLE.match(line)):
            builder.open(len(title.group(1)), title.group(2))
            language = ""
        elif _ADOC_SKIPPED_LINE.match(line):
            pass
        elif not paragraph and (entry := _ADOC_DLIST.match(line)):
            lines_of_entry, i = _adoc_dlist_entry(lines, i, entry.group(2))
            builder.add(_Unit("\n".join(lines_of_entry)))
            continue
        elif not paragraph and (caption := _ADOC_BLOCK_TITLE.match(line)) and _adoc_structural(following):
            builder.add(_Unit(caption.group(1)))  # `.Title` of the block below
        elif not paragraph and line[:1] in (" ", "\t") and stripped:  # a literal paragraph
            block, i = _indented_paragraph(lines, i)
            builder.add(_adoc_code_unit(block, ""))
            continue
        elif stripped:
            paragraph.append(line)
        else:
            builder.add_paragraph(paragraph)
        i += 1
    builder.add_paragraph(paragraph)
    return builder.sections


def _indented_paragraph(lines: list[str], start: int) -> tuple[list[str], int]:
    """Lines from `start` to the next blank line, without their common indentation, and the end."""
    end = start
    while end < len(lines) and lines[end].strip():
        end += 1
    margin = min(_indent(line) for line in lines[start:end])
    return [line[margin:] for line in lines[start:end]], end


# --- reStructuredText ---------------------------------------------------------------------------

_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}[ \t]*$")
_RST_CODE_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+(?:code-block|code|sourcecode)::")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _indented_block(lines: list[str], start: int, base_indent: int) -> tuple[list[str], int]:
    """Lines from `start` indented deeper than `base_indent` (blank lines inside kept), and the end."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base_indent):
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


def _rst_sections(text: str) -> list[_Section]:
    lines = text.split("\n")
    builder = _SectionBuilder()
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
            builder.add(_code_unit(body, line + "\n"))
            continue
        if line.strip():
            paragraph.append(line)
            i += 1
            continue
        introduces_literal = bool(paragraph) and paragraph[-1].rstrip().endswith("::")
        base_indent = _indent(paragraph[0]) if paragraph else 0
        builder.add_paragraph(paragraph)
        if introduces_literal:
            body, i = _indented_block(lines, i, base_indent)
            builder.add(_code_unit(body))
        else:
            i += 1
    builder.add_paragraph(paragraph)
    for section in builder.sections:  # a lone adornment line is a transition: it carries no text
        section.units = [unit for unit in section.units if not _RST_ADORNMENT.match(unit.text)]
    return builder.sections


# --- source code --------------------------------------------------------------------------------

_C_FAMILY = (
    r"(?:(?:(?:public|private|protected|internal|static|sealed|abstract|partial|export)\s+)*"
    r"(?:struct|class|union|enum|namespace|typedef|template|interface|record)\b"
    r"|(?![#/*}\s])(?!(?:if|for|while|switch|return|else|do|case)\b)[^;=()]*\w\s*\([^;]*$)"
)
_DEFINITIONS: dict[str, re.Pattern[str]] = {
    language: re.compile(pattern)
    for language, pattern in {
        "python": r"(?:async\s+def|def|class)\s",
        "javascript": r"(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:function\b|class\s)",
        "typescript": r"(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?"
        r"(?:function\b|class\s|interface\s|enum\s|namespace\s|type\s+\w+)",
        "go": r"(?:func|type)\s",
        "rust": r"(?:pub(?:\([^)]*\))?\s+)?(?:(?:async|unsafe|const|extern\s+\"\w+\")\s+)*"
        r"(?:fn|struct|enum|trait|impl|mod|union|macro_rules!)\b",
        "ruby": r"(?:def|class|module)\s",
        "java": r"(?:(?:public|protected|private|abstract|final|sealed|static|strictfp)\s+)*"
        r"(?:class|interface|enum|record|@interface)\s",
        "kotlin": r"(?:(?:public|private|internal|protected|open|abstract|data|sealed|inline|suspend|"
        r"override|enum|annotation)\s+)*(?:fun|class|interface|object)\s",
        "scala": r"(?:(?:private|protected|final|sealed|abstract|implicit|case)\s+)*(?:def|class|object|trait)\s",
        "swift": r"(?:(?:public|private|internal|open|final)\s+)*(?:func|class|struct|enum|protocol|extension)\s",
        "php": r"(?:(?:abstract|final)\s+)?(?:function|class|interface|trait)\s",
        "shell": r"(?:function\s+[\w-]+|[\w-]+\s*\(\s*\))",
        "sql": r"(?i:create|alter|drop|insert|update|delete|select|with|grant)\b",
        "c": _C_FAMILY,
        "cpp": _C_FAMILY,
        "csharp": _C_FAMILY,
    }.items()
}
_CLOSER = re.compile(r"^(?:[})\]]|end\b)")
_MAX_HEADING_CHARS = 120


def _definition_heading(line: str) -> str:
    heading = line.strip().rstrip("{:").strip()
    return heading if len(heading) <= _MAX_HEADING_CHARS else heading[: _MAX_HEADING_CHARS - 1] + "…"


def _code_sections(text: str, language: str | None) -> list[_Section]:
    lines = text.split("\n")
    pattern = _DEFINITIONS.get((language or "").lower())
    if pattern is None:
        return [_Section("", _top_level_blocks(lines))]
    starts: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if line[:1].strip() and pattern.match(line):
            start = i
            # Decorators, attributes, doc comments and C return types sit on the lines just above.
            while (start > 0 and (above := lines[start - 1])[:1].strip() and not _CLOSER.match(above)
                   and not above.rstrip().endswith((";", "}")) and not pattern.match(above)
                   and (not starts or start - 1 > starts[-1][0])):
                start -= 1
            starts.append((start, _definition_heading(line)))
    bounds = [(0, "")] + starts if not starts or starts[0][0] > 0 else starts
    sections = []
    for (start, heading), (end, _) in zip(bounds, bounds[1:] + [(len(lines), "")], strict=True):
        body = _without_trailing_blanks(lines[start:end])
        if body:
            sections.append(_Section(heading, [_code_unit(body)]))
    return sections


def _top_level_blocks(lines: list[str]) -> list[_Unit]:
    """Blocks that start at an unindented line after a blank line: top level in most languages."""
    blocks: list[list[str]] = [[]]
    for i, line in enumerate(lines):
        if i > 0 and not lines[i - 1].strip() and line[:1].strip() and not _CLOSER.match(line):
            blocks.append([])
        blocks[-1].append(line)
    return [_code_unit(_without_trailing_blanks(block)) for block in blocks if any(line.strip() for line in block)]


def _without_trailing_blanks(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


# --- packing ------------------------------------------------------------------------------------


def _size(units: list[_Unit]) -> int:
    return sum(len(unit.text) for unit in units) + 2 * max(len(units) - 1, 0)


def _pack(units: list[_Unit], config: ChunkingConfig) -> list[str]:
    """Greedy packing of whole units into chunks of at most `max_chars`, with prose overlap."""
    chunks: list[str] = []
    current: list[_Unit] = []
    for unit in _fitted(units, config):
        if current and _size([*current, unit]) > config.max_chars:
            carried: list[_Unit] = []
            intro = current[-1]
            # Keep "Run this:" with the code it introduces when the two fit together.
            if (unit.kind == "code" and intro.kind == "prose" and intro.text.rstrip().endswith(":")
                    and len(current) > 1 and _size([intro, unit]) <= config.max_chars):
                carried = [current.pop()]
            if any(not u.carried for u in current):
                chunks.append("\n\n".join(u.text for u in current))
            if not carried and current[-1].kind == "prose" and unit.kind == "prose":
                tail = _overlap_tail(current[-1].text, config.overlap_chars)
                if tail and len(tail) + 2 + len(unit.text) <= config.max_chars:
                    carried = [_Unit(tail, carried=True)]
            current = carried
        current.append(unit)
    if any(not u.carried for u in current):
        chunks.append("\n\n".join(u.text for u in current))
    return chunks


def _fitted(units: list[_Unit], config: ChunkingConfig) -> Iterator[_Unit]:
    """Units no longer than a chunk: oversized prose and code are cut into pieces."""
    for unit in units:
        if unit.kind == "prose":
            # Room for the overlap, so a piece always fits after the tail of the previous chunk.
            for piece in _split_prose(unit.text, config.max_chars - config.overlap_chars):
                yield _Unit(piece)
        elif len(unit.text) <= config.max_chars:
            yield unit
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


def _split_code(unit: _Unit, max_chars: int) -> list[_Unit]:
    opener, closer = unit.opener, unit.closer
    budget = max_chars - len(opener) - len(closer) - 2
    if budget < max_chars // 2:  # a fence line too long to repeat on every piece
        opener, closer, budget = "", "", max_chars
    return [_code_unit(piece.split("\n"), opener, closer) for piece in _split_lines(unit.body.split("\n"), budget)]


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
