"""Choose and render the evidence: verbatim quotes from the passages that best answer the question (pure).

Evidence is faithful by construction: every word shown is the document's own, with its `[n]` and
link. Selection follows what measured best (bench/quality.py, design notes): sections usually answer
their question in their opening, so the quote starts with the opening of the best passage in its
own order (`lead_words`), then adds the units of the top passages that match the question best
until `budget_words`, each passage's units kept in reading order. Code blocks are kept whole, or
trimmed at a line boundary with a pointer to the source when very long. A lead-in ending with ":" is
quoted with the unit it introduces, or not at all when its passage ends there.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bot.passage_units import UnitKind
from bot.unit_scoring import ScoredPassage, ScoredUnit

_NUMBERED = re.compile(r"^\d{1,3}[.)]\s")


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceConfig:
    """How much evidence is quoted (defaults: best token F1 on the bench's dev paraphrases, 0.50, against
    0.47 for lead 80 / budget 120 / 0.8 and 0.34 for best-matching units alone; bench/quality.py).

    Attributes:
        lead_words: words taken from the best passage's opening, in order.
        budget_words: total words quoted (a code block may overshoot once rather than be cut).
        passages: how many of the top passages may contribute.
        min_relative_score: a unit outside the lead is quoted only when its score is at least
            this share of the best unit's score.
        max_code_lines: longer code blocks are trimmed at a line boundary.
    """

    lead_words: int = 120
    budget_words: int = 160
    passages: int = 3
    min_relative_score: float = 0.9
    max_code_lines: int = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """One quoted unit: passage number `number` ([n] in the prompt), its text and kind."""

    number: int
    position: int
    text: str
    kind: UnitKind
    score: float
    trimmed: bool = False
    cut_start: bool = False
    """The rest of a sentence its chunk began in the middle of (bot/chunk_starts.py): shown after "…"."""

    def as_json(self) -> dict[str, object]:
        return {"n": self.number, "position": self.position, "kind": self.kind, "text": self.text,
                "score": round(self.score, 4), "trimmed": self.trimmed}


def trim_code(text: str, max_lines: int) -> tuple[str, bool]:
    """A fenced code unit cut after `max_lines` body lines (at a line boundary), and whether it was cut."""
    lines = text.split("\n")
    body = lines[1:-1]
    if len(body) <= max_lines:
        return text, False
    return "\n".join([lines[0], *body[:max_lines], "# …", lines[-1]]), True


def select_evidence(ranked: Sequence[ScoredPassage], numbers: Sequence[int],
                    config: EvidenceConfig = EvidenceConfig(), *, cut_starts: Collection[int] = ()) -> list[Quote]:
    """Quotes from the best passages, grouped by passage (best first) and in reading order within each.

    Args:
        ranked: the top passages with scored units, best first.
        numbers: the `[n]` each of `ranked` carries in the answer (its position in the prompt).
        cut_starts: the numbers of passages whose chunk begins inside a sentence (bot/chunk_starts.py).
    """
    considered = list(zip(ranked[:config.passages], numbers[:config.passages], strict=False))
    if not considered:
        return []
    chosen: dict[tuple[int, int], tuple[int, ScoredUnit]] = {}
    used = 0
    lead_passage, lead_number = considered[0]
    for scored in lead_passage.units:
        if used >= config.lead_words:
            break
        chosen[(lead_number, scored.unit.position)] = (lead_number, scored)
        used += scored.unit.words
    candidates = [(scored.score, number, scored) for passage, number in considered for scored in passage.units]
    best = max((score for score, _, _ in candidates), default=0.0)
    for score, number, scored in sorted(candidates, key=lambda item: -item[0]):
        if used >= config.budget_words or score < config.min_relative_score * best:
            break
        key = (number, scored.unit.position)
        if key in chosen or _already_quoted(scored.unit.text, chosen):
            continue
        if scored.unit.words > config.budget_words - used and scored.unit.kind != "code":
            continue
        chosen[key] = (number, scored)
        used += scored.unit.words
    _complete_lead_ins(chosen, {number: passage for passage, number in considered})
    order = {number: index for index, (_, number) in enumerate(considered)}
    quotes = []
    for (number, position), (_, scored) in sorted(chosen.items(), key=lambda item: (order[item[0][0]], item[0][1])):
        text, trimmed = (trim_code(scored.unit.text, config.max_code_lines) if scored.unit.kind == "code"
                         else (scored.unit.text, False))
        quotes.append(Quote(number=number, position=position, text=text, kind=scored.unit.kind,
                            score=scored.score, trimmed=trimmed, cut_start=position == 0 and number in cut_starts))
    return quotes


MIN_REPEATED_WORDS = 4
"""A unit this short is never taken for a repeat of words already quoted."""


def _complete_lead_ins(chosen: dict[tuple[int, int], tuple[int, ScoredUnit]],
                       passages: dict[int, ScoredPassage]) -> None:
    """Quote what a chosen lead-in introduces, or drop the lead-in (in place).

    A unit ending with ":" ("One way is to use the compile() function interactively:", "Remove or find a
    document:") says little without what follows it: the passage's next unit is quoted with it (a code
    block trimmed as usual; like a code block, it may overshoot the budget once), and so on while that
    unit is itself a lead-in ("… run from the command prompt as follows:" then "Unix/macOS:" then the
    command), at most MAX_LEAD_IN_PULLS units. When the passage ends there (a chunk cut inside a long
    list, the item's own text starting the next chunk), the lead-in is not quoted at all.
    """
    for number, position in sorted(chosen):
        for _ in range(MAX_LEAD_IN_PULLS):
            entry = chosen.get((number, position))
            if entry is None or not _is_lead_in(entry[1]) or (number, position + 1) in chosen:
                break
            units = passages[number].units  # a unit's position is its index among its passage's units
            if position + 1 >= len(units):
                del chosen[(number, position)]
                break
            position += 1
            chosen[(number, position)] = (number, units[position])


MAX_LEAD_IN_PULLS = 3
"""Most units one lead-in brings along (a chain of lead-ins, each introducing the next)."""


def _is_lead_in(scored: ScoredUnit) -> bool:
    """Whether a unit introduces what follows it: prose ending with ":" (bold markers aside)."""
    return scored.unit.kind != "code" and scored.unit.text.rstrip(" *_").endswith(":")


def _already_quoted(text: str, chosen: dict[tuple[int, int], tuple[int, ScoredUnit]]) -> bool:
    """Whether `text` (whitespace aside) is already part of what a chosen passage's units say in reading
    order: consecutive chunks overlap, so the next chunk's opening often repeats the last one's words,
    and quoting them twice under two numbers shows the reader the same sentence twice."""
    words = text.split()
    if len(words) < MIN_REPEATED_WORDS:  # "Yes." or "No." may well recur inside other sentences
        return False
    wanted = f" {' '.join(words)} "  # padded: whole words only ("keys every" is not in "keys everywhere")
    by_passage: dict[int, list[tuple[int, str]]] = {}
    for (number, position), (_, scored) in chosen.items():
        by_passage.setdefault(number, []).append((position, scored.unit.text))
    return any(wanted in f" {' '.join(' '.join(unit.split()) for _, unit in sorted(units))} "
               for units in by_passage.values())


def evidence_markdown(quotes: Sequence[Quote]) -> str:
    """The quotes as Markdown: prose as `>` block quotes ending in `[n]`, code fenced, gaps marked with "…".

    Consecutive rows of one table are quoted together under its header row, shown once.
    """
    blocks: list[str] = []
    prose: list[str] = []
    table: list[str] = []  # the header (when known) and the rows of the table quote being built
    table_key: tuple[int, str] | None = None  # that quote's source number and header

    def flush() -> None:
        if prose:
            blocks.append("> " + " ".join(prose))
            prose.clear()

    def flush_table() -> None:
        nonlocal table_key
        if table_key is not None:
            blocks.append("> " + "\n> ".join(table) + f" [{table_key[0]}]")
            table.clear()
            table_key = None

    previous: Quote | None = None
    for index, quote in enumerate(quotes):
        following = quotes[index + 1] if index + 1 < len(quotes) else None
        same_as_previous = previous is not None and previous.number == quote.number
        if previous is not None and not same_as_previous:
            flush()
        gap = same_as_previous and previous is not None and quote.position > previous.position + 1
        if quote.kind == "row":
            flush()
            header, _, row = quote.text.rpartition("\n")
            if gap or table_key != (quote.number, header):
                flush_table()
                table.extend([header, row] if header else [row])
                table_key = (quote.number, header)
            else:
                table.append(row)
            previous = quote
            continue
        flush_table()
        if quote.kind == "code":
            flush()
            note = f" (trimmed; the rest is in source [{quote.number}])" if quote.trimmed else f" [{quote.number}]"
            blocks.append(f"{quote.text}\n{note.strip()}")
        else:
            numbered = quote.kind == "item" and _NUMBERED.match(quote.text)
            text = f"• {quote.text}" if quote.kind == "item" and not numbered else quote.text
            if quote.cut_start:
                text = f"… {text}"
            if gap and prose:
                prose.append("…")
            ends_here = following is None or following.number != quote.number or following.kind in ("code", "row")
            prose.append(f"{text} [{quote.number}]" if ends_here else text)
            if quote.kind == "item":
                flush()
        previous = quote
    flush_table()
    flush()
    return "\n\n".join(blocks)
