"""What changed between two dataset versions: examples added and removed, by class (adapter: reads dataset files).

An example is identified by (answer id, source, label) in a version's KTO files (`kto_*.jsonl`,
train and eval together), which hold every voted answer and every correction; its class is 👍, 👎
or correction. The files live where the training worker wrote them (the version's `path`); when
this process cannot read them the change is unknown (None), never guessed from counts.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from store.datasets_store import DatasetRecord

CLASSES = ("👍", "👎", "correction")
ExampleKey = tuple[int, str, bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetChange:
    """Examples of `newer` not in `older` (added) and of `older` not in `newer` (removed), per class."""

    older: str
    newer: str
    added: dict[str, int]
    removed: dict[str, int]


def example_class(key: ExampleKey) -> str:
    _, source, label = key
    return "correction" if source == "correction" else ("👍" if label else "👎")


def example_keys(dataset: DatasetRecord) -> set[ExampleKey] | None:
    """The examples of a version's KTO files, or None when a file is missing or unreadable here."""
    keys: set[ExampleKey] = set()
    for stem, entry in (dataset.manifest.get("files") or {}).items():
        if not stem.startswith("kto"):
            continue
        try:
            lines = (Path(dataset.path) / str(entry["path"])).read_text().splitlines()
            rows = [json.loads(line) for line in lines if line.strip()]
        except (OSError, ValueError, KeyError):
            return None
        keys.update((int(row["answer_id"]), str(row.get("source") or "vote"), bool(row["label"])) for row in rows)
    return keys


def _by_class(keys: set[ExampleKey]) -> dict[str, int]:
    counts = Counter(example_class(key) for key in keys)
    return {name: counts.get(name, 0) for name in CLASSES}


def dataset_change(older: DatasetRecord, newer: DatasetRecord) -> DatasetChange | None:
    """Examples added and removed from `older` to `newer`; None when either version's files are unreadable."""
    before, after = example_keys(older), example_keys(newer)
    if before is None or after is None:
        return None
    return DatasetChange(older=older.version, newer=newer.version, added=_by_class(after - before),
                         removed=_by_class(before - after))
