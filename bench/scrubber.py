"""Precision and recall of the secret/PII scrubber on a labelled corpus, old rules against new, one run.

The corpus (`bench/data/scrub_corpus.jsonl`) holds realistic Slack lines with labelled spans of every
kind, and look-alikes that must survive (versions, Slack timestamps, dates, SHAs, UUIDs, line
numbers, ports, IP addresses, order numbers, code, hex colours, Luhn-invalid numbers). Both scrubbers
are judged only by their output text: each placeholder is aligned back to the stretch of the
original it replaced, so the old scrubber (frozen below, as it was before scrubber version 2) and
the current one are measured the same way.

* A labelled span is *detected* when one region of its own kind covers all of it; it *leaked* when
  any of its characters survived (`card <PHONE> 1111` leaks).
* A replaced region is *correct* when it overlaps a labelled span of its kind.
* Speed: milliseconds to scrub 10,000 characters of corpus text (digit-heavy: a worst case).

The rules were written alongside most of the corpus, so its figures flatter them. Lines marked
`"set": "holdout"` were written afterwards and the rules were not changed for them: their figures
are reported apart and are the honest estimate.

Run from the repository root: `python -m bench.scrubber [--limit N] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

from knowledge.scrubbing import PLACEHOLDERS, Finding, scrub

CORPUS = Path("bench/data/scrub_corpus.jsonl")
RESULTS = Path("bench/results/scrubber.json")

Scrubber = Callable[[str], str]

# The rules of scrubber version 1, kept verbatim as the baseline.
_OLD_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), "<PRIVATE_KEY>"),
    (re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/-]+"), "<SLACK_WEBHOOK>"),
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}"), "<SLACK_TOKEN>"),
    (re.compile(r"\bxapp-\d-[A-Za-z0-9-]{10,}"), "<SLACK_TOKEN>"),
    (re.compile(r"<@[UW][A-Z0-9]{2,}(?:\|[^>]*)?>"), "<@USER>"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "<API_KEY>"),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"), "<API_KEY>"),
    (re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"), "<API_KEY>"),
    (re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"), "<API_KEY>"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "<API_KEY>"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "<JWT>"),
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{16,}"), r"\1<TOKEN>"),
    (re.compile(r"(?i)\b((?:api[_-]?key|secret|token|password|passwd)\s*[:=]\s*)(['\"]?)[^\s'\"<>]{6,}\2"),
     r"\1<SECRET>"),
    (re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), "<EMAIL>"),
    (re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])"
                r"\d{3,4}[ .-]\d{3,4}(?![\w-])"), "<PHONE>"),
)


def old_scrub(text: str) -> str:
    """The scrubber before version 2: rules applied one after the other."""
    for pattern, replacement in _OLD_RULES:
        text = pattern.sub(replacement, text)
    return text


def new_scrub(text: str) -> str:
    return scrub(text).text


SCRUBBERS: dict[str, Scrubber] = {"old": old_scrub, "new": new_scrub}
_KIND_OF = {placeholder: kind for kind, placeholder in PLACEHOLDERS.items()} | {"<TOKEN>": "secret"}
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in sorted(_KIND_OF, key=len, reverse=True)))


@dataclass(frozen=True, slots=True)
class Line:
    """A corpus line and its labelled findings."""

    text: str
    labels: tuple[Finding, ...]
    holdout: bool = False


def load_corpus(path: Path = CORPUS, limit: int | None = None) -> list[Line]:
    rows = [json.loads(raw) for raw in path.read_text(encoding="utf-8").splitlines() if raw.strip()]
    return [Line(row["text"], tuple(Finding(s["start"], s["end"], s["kind"]) for s in row["spans"]),
                 row.get("set") == "holdout") for row in rows[:limit]]


def replaced_regions(original: str, scrubbed: str) -> list[Finding]:
    """The stretches of `original` that became placeholders in `scrubbed`, with the placeholder's kind.

    Raises:
        ValueError: `scrubbed` is not `original` with some stretches replaced by placeholders.
    """
    placeholders = list(_PLACEHOLDER.finditer(scrubbed))
    literals = _PLACEHOLDER.split(scrubbed)
    regex = "(.+?)".join(re.escape(literal) for literal in literals)
    match = re.fullmatch(regex, original, re.S)
    if match is None:
        raise ValueError(f"scrubbed text does not align with its original: {scrubbed!r}")
    return [Finding(match.start(i), match.end(i), _KIND_OF[p.group()]) for i, p in enumerate(placeholders, 1)]


@dataclass(slots=True)
class Tally:
    """Counts for one kind (or all kinds together)."""

    labels: int = 0
    detected: int = 0
    leaked: int = 0
    predicted: int = 0
    correct: int = 0

    def figures(self) -> dict[str, float | int]:
        return {"labels": self.labels, "detected": self.detected, "leaked": self.leaked,
                "predicted": self.predicted, "correct": self.correct,
                "precision": round(self.correct / self.predicted, 3) if self.predicted else 1.0,
                "recall": round(self.detected / self.labels, 3) if self.labels else 1.0}


def evaluate(scrubber: Scrubber, corpus: list[Line]) -> dict[str, object]:
    """Per-kind and overall figures for one scrubber, plus the lines it got wrong."""
    tallies: dict[str, Tally] = {}
    mistakes: list[dict[str, object]] = []
    changed_negatives = 0
    for line in corpus:
        output = scrubber(line.text)
        regions = replaced_regions(line.text, output)
        changed_negatives += not line.labels and output != line.text
        wrong = False
        for label in line.labels:
            tally = tallies.setdefault(label.kind, Tally())
            tally.labels += 1
            covered = any(r.start <= label.start and label.end <= r.end and r.kind == label.kind for r in regions)
            tally.detected += covered
            kept = set(range(label.start, label.end)) - {i for r in regions for i in range(r.start, r.end)}
            tally.leaked += bool(kept)
            wrong |= not covered
        for region in regions:
            tally = tallies.setdefault(region.kind, Tally())
            tally.predicted += 1
            correct = any(region.overlaps(label) and label.kind == region.kind for label in line.labels)
            tally.correct += correct
            wrong |= not correct
        if wrong:
            mistakes.append({"text": line.text, "scrubbed": output})
    overall = Tally(*(sum(getattr(tally, count.name) for tally in tallies.values()) for count in fields(Tally)))
    return {"overall": overall.figures() | {"negative_lines_changed": changed_negatives},
            "kinds": {kind: tallies[kind].figures() for kind in sorted(tallies)}, "mistakes": mistakes}


def ms_per_10k_chars(scrubber: Scrubber, corpus: list[Line], repeats: int = 5) -> float:
    """Median time to scrub 10,000 characters made of corpus lines."""
    lines = "\n".join(line.text for line in corpus)
    text = (lines * (10_000 // max(len(lines), 1) + 1))[:10_000]
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        scrubber(text)
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 2)


def run(corpus: list[Line], repeats: int = 5) -> dict[str, object]:
    kinds = Counter(label.kind for line in corpus for label in line.labels)
    holdout = [line for line in corpus if line.holdout]
    return {"lines": len(corpus), "negative_lines": sum(not line.labels for line in corpus),
            "holdout_lines": len(holdout), "labels": dict(sorted(kinds.items())),
            "scrubbers": {name: evaluate(scrubber, corpus) for name, scrubber in SCRUBBERS.items()},
            "holdout": {name: evaluate(scrubber, holdout) for name, scrubber in SCRUBBERS.items()},
            "ms_per_10k_chars": {name: ms_per_10k_chars(scrubber, corpus, repeats)
                                 for name, scrubber in SCRUBBERS.items()}}


def table(results: dict[str, object]) -> str:
    """A plain-text table: one row per kind, then overall and held-out, old and new side by side."""
    scrubbers, holdout = results["scrubbers"], results["holdout"]
    assert isinstance(scrubbers, dict) and isinstance(holdout, dict)
    rows = {kind: (scrubbers["old"]["kinds"].get(kind, {}), figures)
            for kind, figures in scrubbers["new"]["kinds"].items()}
    rows["overall"] = (scrubbers["old"]["overall"], scrubbers["new"]["overall"])
    rows["holdout"] = (holdout["old"]["overall"], holdout["new"]["overall"])
    lines = [f"{'kind':<14}{'labels':>7}  {'old P':>6}{'old R':>7}  {'new P':>6}{'new R':>7}"]
    for kind, (old, new) in rows.items():
        lines.append(f"{kind:<14}{new['labels']:>7}  {old.get('precision', 1.0):>6.2f}{old.get('recall', 1.0):>7.2f}"
                     f"  {new['precision']:>6.2f}{new['recall']:>7.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--limit", type=int, help="only the first N corpus lines")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats (median reported)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = run(load_corpus(args.corpus, args.limit), args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(results))
    print("ms per 10k chars:", results["ms_per_10k_chars"])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
