"""The bench's question sets: FAQ headings, teammate-style paraphrases and unanswerable questions (pure).

Paraphrases and unanswerable questions are hand-written held-out data (bench/data/README.md). Each
set is split by line index: even lines are `dev` (thresholds are calibrated there), odd lines are
`test` (figures are reported there), so no reported figure comes from data it was tuned on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.faq import FaqItem

DATA_DIR = Path(__file__).parent / "data"
Split = Literal["dev", "test", "all"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AskedQuestion:
    """A question as asked, with its gold FAQ item (None for an unanswerable question)."""

    text: str
    item: FaqItem | None
    kind: str
    """"heading", "paraphrase", "off_topic" or "near_miss"."""


def _lines(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _in_split(index: int, split: Split) -> bool:
    return split == "all" or (index % 2 == 0) == (split == "dev")


def paraphrases(items: list[FaqItem], split: Split,
                path: Path = DATA_DIR / "faq_paraphrases.jsonl") -> list[AskedQuestion]:
    """Teammate-style rewordings joined to their FAQ items on (file, question), split by line index."""
    by_key = {(item.file, item.question): item for item in items}
    asked = []
    for index, line in enumerate(_lines(path)):
        item = by_key.get((line["file"], line["question"]))
        if item is None:
            raise ValueError(f"{path.name} line {index + 1}: no FAQ item {line['file']} / {line['question']!r}")
        if _in_split(index, split):
            asked.append(AskedQuestion(text=line["paraphrase"], item=item, kind="paraphrase"))
    return asked


def team_questions(items: list[FaqItem], path: Path = DATA_DIR / "team_questions.jsonl") -> list[AskedQuestion]:
    """More rewordings of the dev-split items only: what the learning-curve bench's simulated team asks.

    Training may read these (they never touch a test-split FAQ item), evaluation never does.
    """
    return paraphrases(items, "all", path)


def headings(items: list[FaqItem]) -> list[AskedQuestion]:
    """The FAQ's own headings as questions (flattering: the heading is in the chunk's embedding text)."""
    return [AskedQuestion(text=item.question, item=item, kind="heading") for item in items]


def unanswerable(split: Split, path: Path = DATA_DIR / "unanswerable.jsonl") -> list[AskedQuestion]:
    """Off-topic questions and near-misses the Python docs do not answer."""
    return [AskedQuestion(text=line["question"], item=None, kind=line["kind"])
            for index, line in enumerate(_lines(path)) if _in_split(index, split)]


def holdout_paraphrases(items: list[FaqItem],
                        path: Path = DATA_DIR / "holdout_paraphrases.jsonl") -> list[AskedQuestion]:
    """A third set of rewordings, written blind (by someone who saw neither the abstention rule nor any
    figure) after the rule's figure was chosen: what it does on wording nobody tuned on. Its figures were
    seen once when choosing between two rules (bench/results/quality.json, README *Answer quality*)."""
    return paraphrases(items, "all", path)


def holdout_unanswerable(path: Path = DATA_DIR / "holdout_unanswerable.jsonl") -> list[AskedQuestion]:
    """Unanswerable questions written with the held-out paraphrases, the same way."""
    return unanswerable("all", path)


def second_holdout_paraphrases(items: list[FaqItem]) -> list[AskedQuestion]:
    """A fourth rewording of every test-split FAQ item, written blind by a helper that read only the FAQ
    pages (no code, no other question set, no figure), in three registers (terse, medium, situational).
    Its retrieval figures were read once, to confirm the re-ranking chosen on dev and the first holdout
    (bot/reranking.py); nothing was chosen on it."""
    return paraphrases(items, "all", DATA_DIR / "holdout2_paraphrases.jsonl")


def second_holdout_unanswerable() -> list[AskedQuestion]:
    """Unanswerable questions written with the second holdout's paraphrases, the same way."""
    return unanswerable("all", DATA_DIR / "holdout2_unanswerable.jsonl")


def third_holdout_paraphrases(items: list[FaqItem]) -> list[AskedQuestion]:
    """A fifth rewording of every test-split FAQ item, written blind by a helper that read only the FAQ
    pages (no code, no other question set, no figure) after the top-20 re-ranking and the abstention
    rule of this stop were fixed; the same three registers as the second holdout. Nothing was chosen
    on it: its figures were first read in the quality bench's run that reports them."""
    return paraphrases(items, "all", DATA_DIR / "holdout3_paraphrases.jsonl")


def third_holdout_unanswerable() -> list[AskedQuestion]:
    """Unanswerable questions written with the third holdout's paraphrases, the same way (each near-miss
    grepped against the whole 3.11 docs tree)."""
    return unanswerable("all", DATA_DIR / "holdout3_unanswerable.jsonl")


def fourth_holdout_paraphrases(items: list[FaqItem]) -> list[AskedQuestion]:
    """A sixth rewording of every test-split FAQ item (same order), written blind by a helper that read
    only the FAQ pages and the docs tree, after the abstention experiments of the sixteenth stop had
    left the shipped rule as it was; the same three registers. Nothing was chosen on it: its figures
    were first read in the quality bench's run that reports them."""
    return paraphrases(items, "all", DATA_DIR / "holdout4_paraphrases.jsonl")


def fourth_holdout_unanswerable() -> list[AskedQuestion]:
    """Unanswerable questions written with the fourth holdout's paraphrases, the same way (each near-miss
    grepped against the whole 3.11 docs tree)."""
    return unanswerable("all", DATA_DIR / "holdout4_unanswerable.jsonl")


def fifth_holdout_paraphrases(items: list[FaqItem]) -> list[AskedQuestion]:
    """A seventh rewording of every test-split FAQ item (same order), written blind by a helper that read
    only the FAQ pages and the docs tree, after the twentieth stop's experiments (units scored by the
    ranking model, not kept) had left the shipped order and rule as they were; the same three registers.
    Nothing was chosen on it: its figures were first read in the run that reports them
    (bench/ranking_votes_answers.py)."""
    return paraphrases(items, "all", DATA_DIR / "holdout5_paraphrases.jsonl")


def fifth_holdout_unanswerable() -> list[AskedQuestion]:
    """Unanswerable questions written with the fifth holdout's paraphrases, the same way (each near-miss
    grepped against the whole 3.11 docs tree)."""
    return unanswerable("all", DATA_DIR / "holdout5_unanswerable.jsonl")
