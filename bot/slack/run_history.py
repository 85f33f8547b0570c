"""`/kb history`: training runs and dataset versions with their counts, and the last dataset change (orch + pure).

Read from what the worker records: `training_runs` rows, `datasets` rows with the builder's stats
in their manifest, and the two newest versions' KTO files for what changed between them
(`store.dataset_changes`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.slack.blocks import Blocks, gate_line, section
from bot.slack.mrkdwn import SECTION_LIMIT, escape, truncate
from store.dataset_changes import CLASSES, DatasetChange, dataset_change
from store.datasets_store import DatasetRecord, recent_datasets
from store.training_runs import RunRecord, recent_training_runs

HISTORY_RUNS = 10
HISTORY_DATASETS = 5


def run_line(run: RunRecord) -> str:
    gate = gate_line(run.metrics or {})
    return (f"#{run.id} *{escape(run.status)}* · {escape(run.trigger)} · {run.created_at:%Y-%m-%d %H:%M}"
            + (f" · dataset {run.dataset_id}" if run.dataset_id else "") + (f"\n      {gate}" if gate else ""))


def dataset_line(dataset: DatasetRecord) -> str:
    stats = dataset.manifest.get("stats") or {}

    def counts(split: str) -> str:
        part = stats.get(split) or {}
        return (f"👍 {part.get('desirable', 0)} · 👎 {part.get('undesirable', 0)} · "
                f"corrections {part.get('corrections', 0)}")

    objective = dataset.manifest.get("objective") or "?"
    return (f"`{escape(dataset.version)}` ({dataset.id}) · {dataset.created_at:%Y-%m-%d %H:%M} · "
            f"{escape(str(objective))}\n      train {counts('train')}; eval {counts('eval')}")


def change_text(change: DatasetChange | None, datasets: list[DatasetRecord]) -> str:
    if len(datasets) < 2:
        return "Only one dataset version so far: nothing to compare." if datasets else "No dataset version yet."
    if change is None:
        return "The last two versions' files cannot be read from this process, so their examples cannot be compared."

    def by_class(counts: dict[str, int]) -> str:
        return " · ".join(f"{name} {counts[name]}" for name in CLASSES)

    return (f"*From `{escape(change.older)}` to `{escape(change.newer)}`*\n"
            f"Added: {by_class(change.added)}\nRemoved: {by_class(change.removed)}")


def history_blocks(runs: list[RunRecord], datasets: list[DatasetRecord], change: DatasetChange | None) -> Blocks:
    runs_text = "\n".join(run_line(r) for r in runs) or "No training run yet."
    datasets_text = "\n".join(dataset_line(d) for d in datasets) or "No dataset version yet."
    return [section(truncate(f"*Training runs* (newest first)\n{runs_text}", SECTION_LIMIT)),
            section(truncate(f"*Dataset versions* (newest first)\n{datasets_text}", SECTION_LIMIT)),
            section(truncate(change_text(change, datasets), SECTION_LIMIT))]


def training_history(sessions: sessionmaker[Session]) -> Blocks:
    with sessions() as session:
        runs = recent_training_runs(session, limit=HISTORY_RUNS)
        datasets = recent_datasets(session, limit=HISTORY_DATASETS)
    change = dataset_change(datasets[1], datasets[0]) if len(datasets) >= 2 else None
    return history_blocks(runs, datasets, change)
