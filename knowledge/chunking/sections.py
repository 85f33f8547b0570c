"""Sections and units, the shapes every format's splitter builds and packing consumes (pure).

A section is a heading path and its units; a unit is a paragraph, a code block or a table. Code
keeps its fence so that pieces of an oversized block can be fenced again, and a table its header
and delimiter rows so that every piece of a long one starts with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

HEADING_SEPARATOR = " › "


def lf_newlines(text: str) -> str:
    """`text` with every CRLF and lone CR turned into LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True, slots=True)
class Unit:
    """A paragraph, a code block or a table; code carries its fence (`opener`, `body`, `closer`) so
    pieces of it can be fenced again, a table its header and delimiter rows as `opener`."""

    text: str
    kind: Literal["prose", "code", "table"] = "prose"
    opener: str = ""
    body: str = ""
    closer: str = ""
    carried: bool = False  # an overlap copied from the previous chunk


def code_unit(lines: list[str], opener: str = "", closer: str = "") -> Unit:
    """A code block of `lines` between an optional fence `opener` and `closer`."""
    body = "\n".join(lines)
    return Unit("\n".join(part for part in (opener, body, closer) if part), "code", opener, body, closer)


def table_unit(head: list[str], rows: list[str]) -> Unit:
    """A Markdown table: its `head` (header and delimiter rows; empty for a piece without them) and
    its body `rows`, one per line."""
    return Unit("\n".join([*head, *rows]), "table", "\n".join(head), "\n".join(rows))


@dataclass(slots=True)
class Section:
    """A heading path and the units under it, in document order."""

    heading: str
    units: list[Unit] = field(default_factory=list)
    level: int = 0  # of the heading that opened it; 0 before the first heading


class SectionBuilder:
    """Keeps the open heading path and the section that units are added to."""

    def __init__(self) -> None:
        self.sections = [Section("")]
        self._path: list[tuple[int, str]] = []

    def open(self, level: int, title: str) -> None:
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, _PERMALINK_TAIL.sub("", title.strip())))
        self.sections.append(Section(HEADING_SEPARATOR.join(t for _, t in self._path if t), level=level))

    def add(self, unit: Unit) -> None:
        if unit.text.strip():
            self.sections[-1].units.append(unit)

    def add_paragraph(self, lines: list[str]) -> None:
        self.add(Unit("\n".join(_PILCROW_TAIL.sub("", line) for line in lines).strip("\n")))
        lines.clear()


_PERMALINK_TAIL = re.compile(r"[ \t]*[¶§🔗⚓]\ufe0f?[ \t]*$")
"""A permalink sign after a heading, as text copied from a Sphinx or MkDocs page carries it."""
_PILCROW_TAIL = re.compile(r"[ \t]*¶[ \t]*$")


def indent(line: str) -> int:
    """How many leading whitespace characters `line` has."""
    return len(line) - len(line.lstrip())


def without_trailing_blanks(lines: list[str]) -> list[str]:
    """`lines` without the blank lines at its end."""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]
