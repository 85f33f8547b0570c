"""`/kb history`: runs and dataset versions with counts, and what changed between the last two versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from store.datasets_store import record_dataset
from store.schema import TrainingRun
from tests.slack.harness import SlackHarness


def write_version(root: Path, version: str, rows: list[dict[str, Any]], stats: dict[str, Any]) -> dict[str, Any]:
    """A dataset folder as the exporter lays it out (only the KTO file matters here); returns its manifest."""
    folder = root / version
    folder.mkdir(parents=True)
    (folder / "kto_train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return {"objective": "kto", "stats": stats, "files": {"kto_train": {"path": "kto_train.jsonl", "rows": len(rows)}}}


def vote(answer_id: int, label: bool, source: str = "vote") -> dict[str, Any]:
    return {"prompt": "p", "completion": "c", "label": label, "answer_id": answer_id, "source": source}


def record(bot: SlackHarness, root: Path, version: str, rows: list[dict[str, Any]], stats: dict[str, Any],
           *, path: Path | None = None) -> None:
    manifest = write_version(root, version, rows, stats)
    with bot.sessions.begin() as session:
        record_dataset(session, version=version, path=str(path or root / version), content_hash=version,
                       manifest=manifest)


def history_text(bot: SlackHarness) -> str:
    bot.command("history")
    return "\n".join(b["text"]["text"] for b in bot.fake.responses()[-1]["blocks"])


def test_history_lists_runs_and_versions_and_the_examples_added_and_removed_by_class(
        bot: SlackHarness, tmp_path: Path) -> None:
    older = [vote(1, True), vote(2, False), vote(3, False), vote(3, True, "correction")]
    newer = [vote(1, True), vote(3, False), vote(3, True, "correction"), vote(4, True), vote(5, True),
             vote(6, False), vote(6, True, "correction")]
    record(bot, tmp_path, "ds-old", older, {"train": {"desirable": 2, "undesirable": 2, "corrections": 1}})
    record(bot, tmp_path, "ds-new", newer, {"train": {"desirable": 5, "undesirable": 2, "corrections": 2},
                                            "eval": {"desirable": 1, "undesirable": 1, "corrections": 0}})
    with bot.sessions.begin() as session:
        session.add(TrainingRun(status="succeeded", trigger="schedule", dataset_id=2,
                                metrics={"gate_gain": 0.12, "gate_gain_lower": 0.04}))
        session.add(TrainingRun(status="queued", trigger="admin", requested_by="UADMIN"))

    text = history_text(bot)
    runs, datasets = text.index("*Training runs*"), text.index("*Dataset versions*")
    assert text.index("#2 *queued* · admin") < text.index("#1 *succeeded* · schedule") < datasets
    assert "dataset 2\n      Gate: margin gain 0.12 · its 95% lower bound 0.04" in text[runs:datasets]
    assert text.index("`ds-new` (2)") < text.index("`ds-old` (1)")
    assert "train 👍 5 · 👎 2 · corrections 2; eval 👍 1 · 👎 1 · corrections 0" in text
    assert "*From `ds-old` to `ds-new`*\nAdded: 👍 2 · 👎 1 · correction 1\nRemoved: 👍 0 · 👎 1 · correction 0" in text


def test_unreadable_files_are_said_not_guessed(bot: SlackHarness, tmp_path: Path) -> None:
    record(bot, tmp_path, "ds-a", [vote(1, True)], {})
    record(bot, tmp_path, "ds-b", [vote(2, True)], {}, path=tmp_path / "on-the-worker-only")
    assert "cannot be read from this process" in history_text(bot)


def test_history_without_anything_yet(bot: SlackHarness) -> None:
    text = history_text(bot)
    assert "No training run yet." in text and text.count("No dataset version yet.") == 2
