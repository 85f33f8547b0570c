"""Map `[n]` markers in a completion to the passages they cite (pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from store.types import Passage

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Citation:
    """A source shown under the answer; `cited` is False for passages retrieved but not cited."""

    number: int
    title: str
    uri: str
    heading: str
    chunk_id: int
    document_id: int
    cited: bool

    @property
    def label(self) -> str:
        """Title and section for a Sources line; a heading path that already starts with the title stands alone."""
        if not self.heading or self.heading == self.title:
            return self.title
        return self.heading if self.heading.startswith(self.title) else f"{self.title} › {self.heading}"


def cited_numbers(completion: str, passage_count: int) -> list[int]:
    """Passage numbers the completion cites, in first-cited order, ignoring out-of-range markers."""
    seen: list[int] = []
    for match in _MARKER.finditer(completion):
        for part in match.group(1).split(","):
            number = int(part)
            if 1 <= number <= passage_count and number not in seen:
                seen.append(number)
    return seen


def strip_invalid_markers(completion: str, passage_count: int) -> str:
    """Remove markers that point at no passage, so readers never follow a citation to nowhere."""

    def keep_valid(match: re.Match[str]) -> str:
        numbers = [part.strip() for part in match.group(1).split(",") if 1 <= int(part) <= passage_count]
        return f"[{', '.join(numbers)}]" if numbers else ""

    return _MARKER.sub(keep_valid, completion)


def build_citations(completion: str, passages: Sequence[Passage]) -> list[Citation]:
    """Cited passages first (in citation order), then the other passages the model was shown.

    An uncited passage from a section already listed is left out: readers need each source once.
    """
    cited = cited_numbers(completion, len(passages))
    order = list(cited)
    shown = {(passages[n - 1].uri, passages[n - 1].heading) for n in cited}
    for n in range(1, len(passages) + 1):
        key = (passages[n - 1].uri, passages[n - 1].heading)
        if n not in cited and key not in shown:
            order.append(n)
            shown.add(key)
    return [Citation(number=n, title=passages[n - 1].title, uri=passages[n - 1].uri,
                     heading=passages[n - 1].heading, chunk_id=passages[n - 1].chunk_id,
                     document_id=passages[n - 1].document_id, cited=n in cited) for n in order]
