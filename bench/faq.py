"""Questions and gold answers from the official Python FAQ reStructuredText sources (pure).

Every FAQ section title that ends in "?" is a question; the text under it, up to the next section
title, is its gold answer. The sources ship in Debian's `python3.11-doc` package (PSF license).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOC_SOURCES = Path("/usr/share/doc/python3.11/html/_sources")
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+.:_])\1{2,}\s*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class FaqItem:
    """One FAQ question with its gold answer section."""

    file: str
    question: str
    answer: str
    """The section's reStructuredText source (what gold passages are matched against)."""

    def shown_answer(self) -> str:
        """The answer as a reader sees it: roles rendered as their text, author comments (".. XXX …"),
        directive markup and headings dropped, the way the product renders passages for quoting
        (bot/passage_units.py). Token F1 against the source would credit markup ("func", "ref", "XXX")
        that only text shown raw can match."""
        from bot.passage_units import split_units

        return "\n".join(unit.text for unit in split_units(self.answer))


def section_titles(lines: list[str]) -> list[int]:
    """Indexes of the lines that are RST section titles (text over an underline at least as long)."""
    titles = []
    for index in range(len(lines) - 1):
        title, underline = lines[index].rstrip(), lines[index + 1].rstrip()
        if title.strip() and not _UNDERLINE.match(title) and _UNDERLINE.match(underline) \
                and len(underline) >= len(title.strip()):
            titles.append(index)
    return titles


def parse_faq(text: str, *, file: str) -> list[FaqItem]:
    """The question sections of one FAQ page, in page order."""
    lines = text.splitlines()
    titles = section_titles(lines)
    items = []
    for position, index in enumerate(titles):
        question = lines[index].strip()
        if not question.endswith("?"):
            continue
        end = titles[position + 1] if position + 1 < len(titles) else len(lines)
        if end < len(lines) and index + 2 < end and _UNDERLINE.match(lines[end - 1].rstrip()):
            end -= 1  # an overline belongs to the next title
        answer = "\n".join(lines[index + 2:end]).strip()
        if answer:
            items.append(FaqItem(file=file, question=question, answer=answer))
    return items


def load_faq(sources: Path = DOC_SOURCES) -> list[FaqItem]:
    """Every question of every FAQ page under `sources`/faq."""
    items: list[FaqItem] = []
    for path in sorted((sources / "faq").glob("*.rst.txt")):
        items.extend(parse_faq(path.read_text(encoding="utf-8"), file=path.name))
    return items
