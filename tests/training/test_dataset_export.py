"""Exporting feedback from Postgres into immutable, content-addressed dataset versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from store.schema import Answer, Dataset, Vote
from store.verified_answers import record_verified_answer, retire_verified_answer
from tests.answers import keep_reference, vote
from tests.training.feedback_fixtures import SMALL_DATASET, feedback_items
from training.artifacts import file_sha256
from training.dataset_export import export_dataset
from training.dataset_files import DatasetCorrupt, read_dataset


def test_export_writes_jsonl_and_a_manifest_and_records_the_version(sessions: sessionmaker[Session], seed,
                                                                     tmp_path: Path) -> None:
    seed(feedback_items(24))
    result = export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)
    assert result.objective == "kto" and result.dataset is not None
    folder = Path(result.dataset.path)
    assert folder.parent == tmp_path.resolve() and folder.name == result.dataset.version
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["content_hash"] == result.dataset.content_hash
    assert manifest["stats"]["train"] == {"desirable": 8, "undesirable": 8, "corrections": 0}
    for stem, entry in manifest["files"].items():
        assert file_sha256(folder / entry["path"]) == entry["sha256"], stem
    rows = [json.loads(line) for line in (folder / "kto_train.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and {row["label"] for row in rows} == {True, False}
    with sessions() as session:
        assert session.scalar(select(Dataset.version)) == result.dataset.version
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_export_is_reproducible(sessions: sessionmaker[Session], seed, tmp_path: Path) -> None:
    seed(feedback_items(24))
    first = export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)
    second = export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)
    assert first.dataset is not None and second.dataset is not None
    assert (first.dataset.version, first.dataset.content_hash) == (second.dataset.version, second.dataset.content_hash)
    other_root = tmp_path / "elsewhere"
    third = export_dataset(sessions, datasets_root=other_root, config=SMALL_DATASET)
    assert third.dataset is not None and third.dataset.version == first.dataset.version
    for name in ("kto_train.jsonl", "kto_eval.jsonl", "manifest.json"):
        assert (tmp_path / first.dataset.version / name).read_bytes() == (other_root / first.dataset.version
                                                                             / name).read_bytes()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Dataset)) == 1


def test_new_feedback_makes_a_new_version(sessions: sessionmaker[Session], seed, tmp_path: Path) -> None:
    seed(feedback_items(24))
    first = export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)
    seed(feedback_items(2, start=24))
    second = export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)
    assert first.dataset and second.dataset and first.dataset.version != second.dataset.version
    assert (tmp_path / first.dataset.version / "manifest.json").is_file()  # old versions stay


def test_votes_on_deleted_answers_are_ignored(sessions: sessionmaker[Session], seed, tmp_path: Path) -> None:
    ids = seed(feedback_items(24))
    with sessions() as session, session.begin():
        session.execute(delete(Answer).where(Answer.id.in_(ids[:2])))
    result = export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)
    assert result.dataset is not None and result.stats["answers_read"] == 22
    dataset = read_dataset(Path(result.dataset.path))
    kept = {row["answer_id"] for name in ("kto_train", "kto_eval") for row in dataset.rows[name]}
    assert not kept & set(ids[:2])


def test_a_user_voting_twice_counts_once_with_the_latest_vote(sessions: sessionmaker[Session], seed,
                                                               tmp_path: Path) -> None:
    ids = seed(feedback_items(24))
    for value in (1, 1, -1, 1, 1):  # clicks, changes of mind, repeats
        vote(sessions, answer_id=ids[1], user_id="UVOTER", value=value, source="button")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Vote).where(Vote.answer_id == ids[1])) == 1
    result = export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)
    assert result.dataset is not None
    rows = read_dataset(Path(result.dataset.path)).rows
    [row] = [r for name in ("kto_train", "kto_eval") for r in rows[name] if r["answer_id"] == ids[1]]
    assert row["label"] is True


def test_a_corrupt_answer_row_is_dropped_and_counted(sessions: sessionmaker[Session], seed, tmp_path: Path) -> None:
    ids = seed(feedback_items(24))
    with sessions() as session, session.begin():
        session.execute(update(Answer).where(Answer.id == ids[3]).values(completion="", published_text=""))
        session.execute(update(Answer).where(Answer.id == ids[5]).values(passages={"broken": True}))
    result = export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)
    assert result.dataset is not None and result.stats["excluded"]["corrupt"] == 2


def test_below_the_minimums_nothing_is_written(sessions: sessionmaker[Session], seed, tmp_path: Path) -> None:
    seed(feedback_items(5))
    result = export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)
    assert result.dataset is None and "not enough feedback" in (result.skip_reason or "")
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Dataset)) == 0


def test_a_tampered_dataset_file_is_refused(sessions: sessionmaker[Session], seed, tmp_path: Path) -> None:
    seed(feedback_items(24))
    result = export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)
    assert result.dataset is not None
    train = Path(result.dataset.path) / "kto_train.jsonl"
    train.write_text(train.read_text()[:-40] + '{"prompt": "truncat')
    with pytest.raises(DatasetCorrupt, match="kto_train.jsonl has sha256"):
        read_dataset(Path(result.dataset.path))
    with pytest.raises(DatasetCorrupt):
        export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)  # never silently reused


def test_a_verified_answer_trains_as_a_desirable_example_until_it_is_retired(sessions: sessionmaker[Session], seed,
                                                                              tmp_path: Path) -> None:
    ids = seed(feedback_items(24))
    reference = keep_reference(sessions, answer_id=ids[0], author="UEXPERT", text="Raw reply: run it twice.")
    private = keep_reference(sessions, answer_id=ids[1], author="UEXPERT", text="Secret channel answer.")
    with sessions() as session, session.begin():
        verified, _ = record_verified_answer(session, question="How do I run it?", answer_text="Run `make it` once.",
                                             question_vector=[0.1] * 384, scope="workspace", author="UEXPERT",
                                             confirmed_by="UASKER", channel="C1", thread_ts="1.0",
                                             reference_answer_id=reference, prompt="<|user|>\nHow do I run it?\n")
        record_verified_answer(session, question="Private?", answer_text="Private answer.",
                               question_vector=[0.1] * 384, scope="G1", author="UEXPERT", confirmed_by="UASKER",
                               reference_answer_id=private, prompt="<|user|>\nPrivate?\n")
    result = export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)
    assert result.dataset is not None and result.stats["verified_answers"] == 1
    rows = read_dataset(Path(result.dataset.path)).rows
    kto = [row for name in ("kto_train", "kto_eval") for row in rows[name]]
    [row] = [r for r in kto if r["source"] == "verified"]
    assert (row["completion"], row["label"], row["answer_id"]) == ("Run `make it` once.", True, -verified.id)
    assert not [r for r in kto if "Raw reply" in r["completion"] or "Private answer" in r["completion"]], \
        "the promoted reply trains as its verified answer only, and a private one not at all"
    assert [r for name in ("sft_train", "sft_eval") for r in rows[name] if r["source"] == "verified"]

    with sessions() as session, session.begin():
        retire_verified_answer(session, verified.id, by="UADMIN")
    after = export_dataset(sessions, datasets_root=tmp_path, config=SMALL_DATASET)
    assert after.dataset is not None and after.stats["verified_answers"] == 0
    kto_after = [r for name in ("kto_train", "kto_eval") for r in read_dataset(Path(after.dataset.path)).rows[name]]
    assert not [r for r in kto_after if r["source"] in ("verified", "correction")], "a retired answer stops training"
