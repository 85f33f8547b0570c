"""Split a passage into quotable units: sentences, list items and whole code blocks (pure).

Evidence is quoted verbatim, so the units must follow the document's own markup rather than a
generic sentence splitter: a Markdown fence or an reStructuredText literal block (`::` then an
indented block, or a `code-block` directive) is one unit however many lines it has, a list item is
one unit, and prose paragraphs (hard-wrapped in source files) are joined and split into sentences.
Off-the-shelf sentence splitters (pysbd, punkt) know none of this markup, which is why the splitter
is our own; it is deliberately conservative: it only breaks after `.`, `!` or `?` followed by
a space and a capital, a quote, a bracket or a backtick, and never after common abbreviations.

Inline markup (reStructuredText and MyST roles, literals, hyperlinks, reference-style links) is rendered
as the Markdown a reader sees (bot/inline_markup.py), so the quote reads cleanly in Slack while saying
exactly what the source says.

MyST Markdown (Sphinx's Markdown, as in pip's docs) writes directives as fences with a `{name}` info
string and roles as `` {ref}`text <label>` ``: an admonition fence (`{note}`, `{warning}`, …, or a
`:::{note}` colon fence) is prose read as "Note: …", not code; a `{code-block} python` fence is code
in that language; table-of-contents and include fences are navigation, not text; containers of prose
such as `{tab} Unix` read "Unix: …" (reStructuredText's `.. tab:: Unix` alike); any other directive
keeps its body as code without the `{name}` a reader would see as its first line. A definition
list's `: definition` line follows its term ("Global: …"); `(label)=` target lines and a
reference-style link's `[label]: URL` definition line are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.inline_markup import render_inline

UnitKind = Literal["sentence", "item", "row", "code"]

_FENCE = re.compile(r"^\s*(```+|~~~+|:::+(?=\{))")
"""A code fence, or a MyST colon fence (`:::{note}`; only with a directive, as `:::` alone is prose)."""
_MYST_DIRECTIVE = re.compile(r"^\{([a-zA-Z][\w:-]*)\}\s*(.*)$")
_ADMONITIONS = {"note": "Note", "warning": "Warning", "tip": "Tip", "important": "Important", "hint": "Hint",
                "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
                "seealso": "See also", "versionadded": "New in version", "versionchanged": "Changed in version",
                "deprecated": "Deprecated since version", "admonition": ""}
"""Admonition directives (MyST fences and reStructuredText alike) and how their text is introduced, as Sphinx
renders them ("Note: …", "New in version 3.2: …"); an `{admonition}`'s own title introduces it."""
_VERSIONED = frozenset({"versionadded", "versionchanged", "deprecated"})
_BARE_VERSION = re.compile(r"^((?:" + "|".join(re.escape(_ADMONITIONS[name]) for name in sorted(_VERSIONED))
                           + r") \S+):$")
"""A version note with nothing after it, which Sphinx ends with a full stop ("New in version 3.2.")."""
_CONTAINERS = frozenset({"tab", "tab-item", "tab-set", "dropdown", "card", "grid", "grid-item",
                              "grid-item-card", "div", "container", "topic", "sidebar", "epigraph", "glossary",
                              "hlist", "rubric", "centered", "only"})
"""Directives (sphinx-design, sphinx-inline-tabs, docutils) that hold prose, read on like admonitions; an
argument introduces the text as a label does (a `{tab} Unix` reads "Unix: …"), except a build condition's."""
_UNLABELLED = frozenset({"only"})
"""Containers whose argument is a condition (`.. only:: html`), not a title a reader sees."""
_RST_CONTAINER = re.compile(r"^\s*\.\.\s+(" + "|".join(sorted(_CONTAINERS)) + r")::\s*(.*)$")
"""The same prose containers written as reStructuredText directives (`.. tab:: Unix/macOS`)."""
_MYST_CODE = frozenset({"code-block", "code", "sourcecode", "code-cell"})
_MYST_NAVIGATION = frozenset({"toctree", "contents", "include", "literalinclude", "image", "figure", "raw",
                              "index", "autosummary", "tableofcontents"})
"""Directives whose body is navigation, a file to include or markup, not text a reader sees as such."""
_DIRECTIVE_OPTION = re.compile(r"^\s*:[a-zA-Z][\w-]*:(?:\s|$)")
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
"""An HTML comment in a line of Markdown prose (`<!-- TODO -->`, or one the chunk's end cut): never shown."""
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
"""A backslash-escaped punctuation mark, which Markdown and reStructuredText show as the mark alone."""
_COMMENT_CLOSE_LINE = re.compile(r"^\s*-->[ \t]*$", re.MULTILINE)
"""A line closing a multi-line HTML comment (an inline "Start --> Programs" is prose, not a comment's end)."""
_MYST_TARGET = re.compile(r"^\s*\([^()\n]+\)=\s*$")
_LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s+\S+\s*(?:[\"'(].*)?$")
"""A reference-style link's definition line (`[PyPI]: https://pypi.org`): where links point, not text."""
_DEFINITION = re.compile(r"^\s*:\s+(\S.*)$")
"""A MyST definition-list line (`: its definition` under a line holding the term)."""
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|#\.|\([a-z0-9]\))\s+\S")
_CODE_DIRECTIVE = re.compile(r"^\s*\.\.\s+(?:code-block|sourcecode|code|doctest|testcode)::")
_OTHER_DIRECTIVE = re.compile(r"^\s*\.\.\s+(?:_[^:]+:|\|[^|]+\||[a-zA-Z][\w:-]*::|\[\w+\])")
_RST_COMMENT = re.compile(r"^\s*\.\.(?:\s|$)")
"""An rST comment (".. XXX need review", or a bare ".." with an indented body); tested after every directive form."""
_KEPT_DIRECTIVE = re.compile(r"^\s*\.\.\s+(note|warning|tip|important|hint|caution|attention|seealso|versionadded|"
                             r"versionchanged|deprecated|danger|error)::\s*(.*)$")
ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "approx.", "Mr.", "Dr.", "Mrs.", "no.", "No.", "Fig.")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z\"'`(\[*_])")
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+.:_])\1{2,}\s*$")
_MARKDOWN_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|[\s:|-]+\|\s*$")
_BLOCK_LEAD_IN = (".", ":", "!", "?")
"""How a line of prose ends before a deeper block that is a quote or doctest, not its own continuation."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Unit:
    """One quotable piece of a passage, in reading order.

    Attributes:
        text: what is quoted (Markdown; code units carry their fence).
        kind: "sentence", "item" (a list item), "row" (a Markdown table row, under its table's header row
            when the passage has it: two lines) or "code" (a whole code block).
        position: index of the unit within its passage (reading order).
        words: number of words a reader sees, for the evidence budget (a row's own, without its header).
    """

    text: str
    kind: UnitKind
    position: int
    words: int


def table_words(row: str) -> int:
    """Words a reader sees in a table row: its `|` separators (and a rule's `---`, `:--:`) are not words."""
    return sum(1 for token in row.split() if token.strip("|-:"))


def _directive_intro(name: str, argument: str) -> str:
    """How an admonition or prose container's text starts: "Note:", "Note: Title", "New in version 3.2:"
    (then its text), "Unix:" for a `{tab} Unix`, or nothing."""
    label, argument = _ADMONITIONS.get(name, ""), ("" if name in _UNLABELLED else argument.strip())
    if name in _VERSIONED and argument:
        version, _, rest = argument.partition(" ")
        return f"{label} {version}: {rest}".rstrip()
    if label and argument:
        return f"{label}: {argument}"
    return f"{label or argument}:" if label or argument else ""


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def split_sentences(paragraph: str) -> list[str]:
    """A prose paragraph as sentences, never broken after an abbreviation such as "e.g."."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        candidate = paragraph[start:match.start()].rstrip()
        if candidate.endswith(ABBREVIATIONS) or not candidate:
            continue
        pieces.append(candidate)
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


class _Splitter:
    """Walks a passage line by line, emitting units as blocks close."""

    def __init__(self) -> None:
        self.units: list[Unit] = []
        self.paragraph: list[str] = []
        self.paragraph_is_item = False

    def emit(self, text: str, kind: UnitKind, *, counted: str | None = None) -> None:
        """Add a unit; for a table row, `counted` is the row alone, its words counted without table syntax."""
        text = text.strip("\n")
        if text.strip():
            self.units.append(Unit(text=text, kind=kind, position=len(self.units),
                                   words=len(text.split()) if counted is None else table_words(counted)))

    def close_paragraph(self) -> None:
        if not self.paragraph:
            return
        joined = " ".join(line.strip() for line in self.paragraph)
        joined = re.sub(r"\s*::$", ":", joined)  # rST: "text::" reads "text:" before a literal block
        joined = _BARE_VERSION.sub(r"\1.", _as_read(render_inline(joined)))
        if self.paragraph_is_item:
            self.emit(joined, "item")
        else:
            for sentence in split_sentences(joined):
                self.emit(sentence, "sentence")
        self.paragraph, self.paragraph_is_item = [], False

    def code(self, lines: list[str], language: str = "") -> None:
        body = _dedent(lines)
        if body.strip():
            self.emit(f"```{language}\n{body}\n```", "code")


def _dedent(lines: list[str]) -> str:
    kept = list(lines)
    while kept and not kept[-1].strip():
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    margin = min((_indent(line) for line in kept if line.strip()), default=0)
    return "\n".join(line[margin:] for line in kept)


def _indented_block(lines: list[str], start: int, base: int) -> tuple[list[str], int]:
    """Lines from `start` indented deeper than `base` (blank lines inside included); returns (block, next)."""
    block: list[str] = []
    index = start
    while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > base):
        block.append(lines[index])
        index += 1
    return block, index


def _past_options(lines: list[str], start: int) -> int:
    """The index of the first line from `start` that is neither a directive option (`:class: dropdown`,
    `:sync: unix`) nor blank: where a directive's body begins."""
    while start < len(lines) and (_DIRECTIVE_OPTION.match(lines[start]) or not lines[start].strip()):
        start += 1
    return start


def _as_read(prose: str) -> str:
    """A prose paragraph (inline markup already rendered) as a reader sees it: without HTML comments, and
    with backslash-escaped punctuation shown as the mark (`{string\\[]}` reads `{string[]}`, `utf-16\\*`
    reads `utf-16*`, as Markdown and reStructuredText render them). Inline code keeps both (`` `<!-- x -->` ``,
    `` `a\\b` ``), and so does a doctest line (`>>> parse('<!--x-->')`), which is code."""
    if ("<!--" not in prose and "\\" not in prose) or prose.lstrip().startswith(">>>"):
        return prose
    parts = re.split(r"(`[^`]*`)", prose)
    return "".join(part if index % 2 else _ESCAPED.sub(r"\1", _HTML_COMMENT.sub("", part))
                   for index, part in enumerate(parts))


def split_units(text: str) -> list[Unit]:
    """The passage `text` (Markdown, reStructuredText or plain text) as units in reading order."""
    lines = text.split("\n")
    splitter = _Splitter()
    index = 0
    literal_expected, literal_base = False, 0
    table_header = ""
    open_admonitions: list[str] = []  # the closing markers of the MyST admonitions being read, innermost last
    # A passage that starts inside an HTML comment (its chunk cut there) skips to the comment's end.
    first_close = _COMMENT_CLOSE_LINE.search(text)
    in_comment = first_close is not None and "<!--" not in text[:first_close.start()]
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if in_comment:
            in_comment = "-->" not in line
            index += 1
            continue
        if not _TABLE_ROW.match(line):
            table_header = ""  # a table ends at its first line that is not a row
        if open_admonitions and stripped.startswith(open_admonitions[-1]) and not stripped.strip(stripped[0]):
            splitter.close_paragraph()
            open_admonitions.pop()
            index += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            splitter.close_paragraph()
            marker = fence.group(1)
            language = line.strip()[len(marker):].strip()
            end = index + 1
            while end < len(lines) and not lines[end].strip().startswith(marker):
                end += 1
            directive = _MYST_DIRECTIVE.match(language)
            if directive and (directive.group(1) in _ADMONITIONS or directive.group(1) in _CONTAINERS):
                # Read on as prose up to the closing marker, introduced by the admonition's label or the argument.
                intro = _directive_intro(directive.group(1), directive.group(2))
                splitter.paragraph = [intro] if intro else []
                open_admonitions.append(marker)
                index = _past_options(lines, index + 1)
                continue
            body = lines[index + 1:end]
            if directive:
                name = directive.group(1)
                while body and _DIRECTIVE_OPTION.match(body[0]):
                    body = body[1:]
                language = directive.group(2).strip() if name in _MYST_CODE else ""
                if name in _MYST_NAVIGATION:
                    body = []
            splitter.code(body, language)
            index, literal_expected = end + 1, False
            continue
        if stripped.startswith("<!--") and "-->" not in stripped[4:]:
            # An HTML comment over several lines (Node's `<!-- YAML added: v0.1.90 … -->` history): never shown.
            splitter.close_paragraph()
            in_comment = True
            index += 1
            continue
        if _MYST_TARGET.match(line) or _LINK_DEFINITION.match(line):
            splitter.close_paragraph()
            index += 1
            continue
        if literal_expected and stripped and _indent(line) > 0:
            block, index = _indented_block(lines, index, literal_base)
            splitter.code(block)
            literal_expected = False
            continue
        if _CODE_DIRECTIVE.match(line):
            splitter.close_paragraph()
            index += 1
            while index < len(lines) and lines[index].strip().startswith(":"):
                index += 1  # directive options such as :linenos:
            block, index = _indented_block(lines, index, _indent(line))
            splitter.code(block)
            continue
        kept = _KEPT_DIRECTIVE.match(line)
        if kept:
            splitter.close_paragraph()
            splitter.paragraph = [_directive_intro(kept.group(1), kept.group(2))]
            index += 1
            continue
        if container := _RST_CONTAINER.match(line):
            # Its indented body is read as if it were not indented, introduced by the argument ("Unix/macOS:").
            splitter.close_paragraph()
            block, end = _indented_block(lines, index + 1, _indent(line))
            lines[index + 1:end] = [*_dedent(block[_past_options(block, 0):]).split("\n"), ""]
            intro = _directive_intro(container.group(1), container.group(2))
            splitter.paragraph = [intro] if intro else []
            index += 1
            continue
        if _OTHER_DIRECTIVE.match(line):
            splitter.close_paragraph()
            _, index = _indented_block(lines, index + 1, _indent(line))
            continue
        if _RST_COMMENT.match(line):
            # A note to the authors ("XXX check if wiki page is still up to date"), not for readers. An empty
            # comment followed by a blank line ends there (reStructuredText spec); otherwise its body goes too.
            splitter.close_paragraph()
            bare_then_blank = stripped == ".." and (index + 1 >= len(lines) or not lines[index + 1].strip())
            index = index + 1 if bare_then_blank else _indented_block(lines, index + 1, _indent(line))[1]
            continue
        if _MARKDOWN_HEADING.match(line) or (stripped and index + 1 < len(lines) and not splitter.paragraph
                                             and _UNDERLINE.match(lines[index + 1].strip())
                                             and len(lines[index + 1].strip()) >= len(stripped)):
            # A heading is the passage's context (shown with its source), not a statement to quote.
            splitter.close_paragraph()
            index += 1 if _MARKDOWN_HEADING.match(line) else 2
            continue
        if _TABLE_ROW.match(line):
            # A row is quoted under its table's header row (a value means little without its column's name);
            # the header itself is context, not a unit. The chunker starts every piece of a table with it.
            splitter.close_paragraph()
            if _TABLE_RULE.match(line):
                index += 1
            elif index + 1 < len(lines) and _TABLE_RULE.match(lines[index + 1]):
                table_header = render_inline(stripped)
                index += 2
            else:
                row = render_inline(stripped)
                # Its words are the row's own: consecutive rows are quoted under one header row, shown once.
                splitter.emit(f"{table_header}\n{row}" if table_header else row, "row", counted=row)
                index += 1
            continue
        if not stripped or _UNDERLINE.match(stripped):
            splitter.close_paragraph()
            index += 1
            continue
        if (definition := _DEFINITION.match(line)) and splitter.paragraph and not splitter.paragraph_is_item:
            # "Global" then ": In a pip subdirectory …" reads "Global: In a pip subdirectory …".
            splitter.paragraph[-1] = f"{splitter.paragraph[-1].rstrip().rstrip(':')}:"
            splitter.paragraph.append(definition.group(1))
            index += 1
            continue
        if _LIST_ITEM.match(line):
            splitter.close_paragraph()
            splitter.paragraph_is_item = True
            splitter.paragraph = [re.sub(r"^\s*(?:[-*+•]|#\.)\s+", "", line)]
        elif splitter.paragraph and _indent(line) > _indent(splitter.paragraph[-1]) + 3 and \
                not splitter.paragraph_is_item and splitter.paragraph[-1].rstrip().endswith(_BLOCK_LEAD_IN):
            # A deeper block right after a finished line of prose without "::" (a quote or doctest):
            # keep it whole as code. After a line that stops mid-sentence it is that sentence's
            # hard-wrapped continuation (a passage cut inside an indented list item starts so).
            # "Deeper" is measured from the paragraph's last line: a list item's hard-wrapped lines
            # are indented under its marker, and when a chunk starts inside the item its first line
            # lost that indent, so the next sentence at the item's indent is prose, not a block.
            splitter.close_paragraph()
            block, index = _indented_block(lines, index, _indent(line) - 1)
            splitter.code(block)
            continue
        else:
            splitter.paragraph.append(line)
        literal_expected = stripped.endswith("::")
        if literal_expected:
            literal_base = min(_indent(line), _indent(splitter.paragraph[0]))
            splitter.close_paragraph()
        index += 1
    splitter.close_paragraph()
    return splitter.units
