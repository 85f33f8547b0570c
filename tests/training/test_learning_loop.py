"""One run end to end on real parts: Postgres, the tiny model, TRL, the registry. Proof that it learns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from store.adapter_registry import promote, register_adapter, serving_adapter
from store.schema import Adapter
from tests.runs import queue_run, run_record
from tests.tiny_models import build_tiny_lora_adapter
from tests.training.feedback_fixtures import LOOP, feedback_items
from training.config import DatasetConfig, GateConfig
from training.dataset_files import read_dataset
from training.pipeline import LoopPaths, process_next_run, recover
from training.scoring import BASE, ScoringModel


def outcome_report(outcome) -> Path:
    return Path(outcome.report_path)


def _serving_name(sessions: sessionmaker[Session]) -> str | None:
    with sessions() as session:
        current = serving_adapter(session)
        return current.name if current else None


def _serve_a_previous_adapter(sessions: sessionmaker[Session], paths: LoopPaths) -> int:
    folder = build_tiny_lora_adapter(paths.base_model, paths.adapters_root / "previous", seed=5)
    with sessions() as session, session.begin():
        record = register_adapter(session, name="previous", path=str(folder), base_model=str(paths.base_model))
        promote(session, record.id, actor="test")
    return record.id


def test_proof_it_learns_votes_become_a_promoted_adapter_that_prefers_the_liked_answers(
        engine: Engine, sessions: sessionmaker[Session], seed, loop_paths: LoopPaths) -> None:
    seed(feedback_items(24))
    run, _ = queue_run(sessions, trigger="admin", requested_by="UADMIN", notify_channel="CADMIN")

    outcome = process_next_run(engine, paths=loop_paths, config=LOOP)

    assert outcome is not None and outcome.status == "succeeded", outcome
    record = run_record(sessions, run.id)
    assert record.status == "succeeded" and record.adapter_id == outcome.adapter_id
    assert record.message.startswith("promoted run") and record.metrics["gate"]["passed"]
    assert record.metrics["reward_margin"] > record.metrics["reward_margin_before"]  # headline for /kb status
    phases = record.metrics["phase_seconds"]  # where a run's time went, for sizing a CPU run
    assert set(phases) == {"dataset", "training", "evaluating", "publishing"} and phases["training"] > 0
    gate = record.metrics["gate"]["gain"]  # the gate's figures: point estimate, lower bound, n per class
    assert record.metrics["gate_gain_lower"] == pytest.approx(gate["lower"], abs=1e-4)
    assert gate["lower"] > LOOP.gate.min_margin_gain and gate["point"] >= gate["lower"]
    held_out = (record.metrics["held_out_good"], record.metrics["held_out_bad"])
    assert held_out == (gate["n_good"], gate["n_bad"]) == (4, 4)
    with sessions() as session:
        serving = serving_adapter(session)
    assert serving is not None and serving.id == outcome.adapter_id  # the bot's adapter follower sees this

    # Independently of the gate: the promoted adapter's likelihood of the held-out 👍 answers rose.
    dataset = read_dataset(loop_paths.datasets_root / record.metrics["dataset"]["version"])
    held_out = [(r["prompt"], r["completion"]) for r in dataset.rows["kto_eval"] if r["label"]]
    held_out_bad = [(r["prompt"], r["completion"]) for r in dataset.rows["kto_eval"] if not r["label"]]
    assert len(held_out) >= 2 and not {p for p, _ in held_out} & {r["prompt"] for r in dataset.rows["kto_train"]}
    model = ScoringModel(loop_paths.base_model, {"promoted": Path(serving.path)})
    scores = {}
    for name in (BASE, "promoted"):
        with model.using(name):
            good = model.completion_logprobs(held_out, max_length=128, batch_size=8)
            bad = model.completion_logprobs(held_out_bad, max_length=128, batch_size=8)
        scores[name] = (sum(good) / len(good), sum(bad) / len(bad))
    assert scores["promoted"][0] > scores[BASE][0] + 1.0, scores
    assert scores["promoted"][0] - scores["promoted"][1] > scores[BASE][0] - scores[BASE][1], scores

    report = Path(record.report_path)
    assert report.name == "report.md" and "Evaluation gate" in report.read_text()
    assert "95% one-sided lower bound" in report.read_text() and "| held-out 👎 | 4 |" in report.read_text()
    assert (report.parent / "loss.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((report.parent / "report.json").read_text())
    assert data["training"]["objective"] == "kto" and len(data["loss_curve"]) == data["training"]["steps"]
    assert data["dataset"]["stats"]["train"] == {"desirable": 8, "undesirable": 8, "corrections": 0}


def test_empty_feedback_skips_with_a_reason(engine: Engine, sessions: sessionmaker[Session],
                                            loop_paths: LoopPaths) -> None:
    run, _ = queue_run(sessions, trigger="schedule")
    outcome = process_next_run(engine, paths=loop_paths, config=LOOP)
    assert outcome is not None and outcome.status == "skipped"
    record = run_record(sessions, run.id)
    assert record.status == "skipped" and record.message == "skipped: no rated answers yet: nothing to learn from"
    assert Path(record.report_path).is_file() and _serving_name(sessions) is None
    assert process_next_run(engine, paths=loop_paths, config=LOOP) is None  # nothing left queued


def test_only_thumbs_up_trains_the_sft_fallback(engine: Engine, sessions: sessionmaker[Session], seed,
                                                 loop_paths: LoopPaths) -> None:
    seed(feedback_items(16, only_up=True))
    queue_run(sessions, trigger="admin")
    outcome = process_next_run(engine, paths=loop_paths, config=LOOP)
    assert outcome is not None and outcome.status in ("succeeded", "rejected"), outcome
    record = run_record(sessions, outcome.run_id)
    assert record.metrics["dataset"]["objective"] == "sft" and record.metrics["training"]["objective"] == "sft"
    assert "👍 log-likelihood gain" in record.message


def test_only_thumbs_up_is_skipped_when_the_fallback_is_off(engine: Engine, sessions: sessionmaker[Session],
                                                             seed, loop_paths: LoopPaths) -> None:
    seed(feedback_items(16, only_up=True))
    queue_run(sessions, trigger="admin")
    config = replace(LOOP, dataset=replace(LOOP.dataset, one_class_policy="skip"))
    outcome = process_next_run(engine, paths=loop_paths, config=config)
    assert outcome is not None and outcome.status == "skipped" and "0 👎" in outcome.message


def test_a_rejected_candidate_leaves_the_serving_adapter_alone(engine: Engine, sessions: sessionmaker[Session],
                                                               seed, loop_paths: LoopPaths) -> None:
    previous = _serve_a_previous_adapter(sessions, loop_paths)
    seed(feedback_items(24))
    queue_run(sessions, trigger="admin")
    strict = replace(LOOP, train=replace(LOOP.train, max_steps=2),
                     gate=GateConfig(max_length=128, min_margin_gain=1000.0, general_tolerance=4.0))
    outcome = process_next_run(engine, paths=loop_paths, config=strict)
    assert outcome is not None and outcome.status == "rejected" and "rejected" in outcome.message
    assert _serving_name(sessions) == "previous"
    with sessions() as session:
        assert session.get(Adapter, outcome.adapter_id).status == "candidate"
        assert session.get(Adapter, previous).status == "promoted"


def test_a_crash_fails_the_run_and_leaves_the_serving_adapter_alone(engine: Engine, sessions: sessionmaker[Session],
                                                                    seed, loop_paths: LoopPaths,
                                                                    tmp_path: Path) -> None:
    _serve_a_previous_adapter(sessions, loop_paths)
    seed(feedback_items(24))
    run, _ = queue_run(sessions, trigger="admin")
    broken = replace(loop_paths, base_model=tmp_path / "no-such-model")
    outcome = process_next_run(engine, paths=broken, config=LOOP)
    assert outcome is not None and outcome.status == "failed"
    record = run_record(sessions, run.id)
    assert record.status == "failed" and "no-such-model" in record.message and "setup-model" in record.message
    assert _serving_name(sessions) == "previous"
    report = Path(record.report_path)
    assert report == outcome_report(outcome) and "## Error" in report.read_text() and "Traceback" in report.read_text()


def test_a_corrupt_dataset_on_disk_fails_the_run_with_the_file_named(engine: Engine,
                                                                     sessions: sessionmaker[Session], seed,
                                                                     loop_paths: LoopPaths) -> None:
    from training.dataset_export import export_dataset

    seed(feedback_items(24))
    built = export_dataset(sessions, datasets_root=loop_paths.datasets_root, config=LOOP.dataset)
    assert built.dataset is not None
    (Path(built.dataset.path) / "kto_eval.jsonl").write_text('{"prompt": "half a row')
    run, _ = queue_run(sessions, trigger="admin")
    outcome = process_next_run(engine, paths=loop_paths, config=LOOP)
    assert outcome is not None and outcome.status == "failed"
    assert "DatasetCorrupt" in outcome.message and "kto_eval.jsonl" in outcome.message
    assert run_record(sessions, run.id).status == "failed" and _serving_name(sessions) is None


def test_a_worker_killed_mid_training_leaves_a_failed_run_and_nothing_half_promoted(
        engine: Engine, sessions: sessionmaker[Session], seed, loop_paths: LoopPaths, database_url: str) -> None:
    _serve_a_previous_adapter(sessions, loop_paths)
    seed(feedback_items(24))
    run, _ = queue_run(sessions, trigger="admin")
    env = os.environ | {
        "DATABASE_URL": database_url, "TRAINING_BASE_MODEL": str(loop_paths.base_model),
        "TRAINING_DATA_DIR": str(loop_paths.datasets_root.parent), "TRAINING_MIN_DESIRABLE": "4",
        "TRAINING_MIN_UNDESIRABLE": "4", "TRAINING_MIN_EVAL_EXAMPLES": "2", "TRAINING_EVAL_FRACTION": "0.25",
        "TRAINING_EPOCHS": "100000", "TRAINING_MAX_LENGTH": "128", "TRAINING_PROGRESS_BAR": "false",
        "TRAINING_TORCH_THREADS": "1"}
    worker = subprocess.Popen([sys.executable, "-m", "training", "run-once"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    staging = loop_paths.adapters_root
    try:
        deadline = time.monotonic() + 120
        while not (staging.is_dir() and any(p.name.startswith(".staging-") for p in staging.iterdir())):
            assert worker.poll() is None, "the worker exited before training started"
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
        assert run_record(sessions, run.id).status == "running"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        worker.kill()
    assert run_record(sessions, run.id).status == "running"  # nobody could say otherwise yet

    deadline = time.monotonic() + 10
    while not recover(engine, loop_paths) and time.monotonic() < deadline:
        time.sleep(0.1)  # the server notices the dead connection a moment later
    record = run_record(sessions, run.id)
    assert record.status == "failed" and "killed or crashed" in record.message
    assert "killed or crashed" in Path(record.report_path).read_text()  # recovery writes the report it could not
    assert _serving_name(sessions) == "previous"
    assert not [p for p in staging.iterdir() if p.name.startswith(".staging-")]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Adapter)) == 1  # only "previous"


def test_the_dataset_minimums_come_from_the_config(engine: Engine, sessions: sessionmaker[Session], seed,
                                                   loop_paths: LoopPaths) -> None:
    seed(feedback_items(24))
    queue_run(sessions, trigger="admin")
    demanding = replace(LOOP, dataset=DatasetConfig(min_desirable=50, min_undesirable=50, one_class_policy="skip"))
    outcome = process_next_run(engine, paths=loop_paths, config=demanding)
    assert outcome is not None and outcome.status == "skipped" and "at least 50 👍 and 50 👎" in outcome.message
