"""AsciiDoc into sections, and telling AsciiDoc apart from plain text (pure).

Listing and literal blocks become Markdown fences (```python for a `[source,python]` block), as
HTML's <pre> does, so whoever quotes a chunk sees one kind of code block; a `term::` entry stays
with its description.
"""

from __future__ import annotations

import re

from knowledge.chunking.sections import Section, SectionBuilder, Unit, code_unit, indent, lf_newlines

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
    lines = lf_newlines(text).split("\n")
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


def _adoc_code_unit(lines: list[str], language: str) -> Unit:
    """An AsciiDoc listing or literal block as a Markdown fence (what HTML's <pre> becomes too)."""
    fence = "```"
    while any(fence in line for line in lines):
        fence += "`"
    return code_unit(lines, fence + language, fence)


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


def asciidoc_sections(text: str) -> list[Section]:
    """Sections of AsciiDoc titles; delimited blocks, tables and `term::` entries as whole units."""
    lines = text.split("\n")
    builder = SectionBuilder()
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
                builder.add(Unit("\n".join(row for row in body if row.strip())))
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
        elif not paragraph and (heading := _ADOC_TITLE.match(line)):
            builder.open(len(heading.group(1)), heading.group(2))
            language = ""
        elif _ADOC_SKIPPED_LINE.match(line):
            pass
        elif not paragraph and (entry := _ADOC_DLIST.match(line)):
            lines_of_entry, i = _adoc_dlist_entry(lines, i, entry.group(2))
            builder.add(Unit("\n".join(lines_of_entry)))
            continue
        elif not paragraph and (caption := _ADOC_BLOCK_TITLE.match(line)) and _adoc_structural(following):
            builder.add(Unit(caption.group(1)))  # `.Title` of the block below
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
    margin = min(indent(line) for line in lines[start:end])
    return [line[margin:] for line in lines[start:end]], end
