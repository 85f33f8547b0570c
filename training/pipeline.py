"""One training run end to end: claim → dataset → train → gate → register → promote or reject (orch).

The run is claimed under an advisory lock (see `store.run_claims.claimed_run`); while it
executes, a heartbeat thread and the trainer's progress hook keep its record current for
`/kb status`. Every outcome ends in exactly one status, and every one writes a report:

* skipped: the feedback is below the minimum counts (the reason says which);
* succeeded: the gate passed and the adapter now serves (promotion and the status change commit
  in one transaction, so a crash can never leave one without the other);
* rejected: the gate failed; the adapter stays registered as a candidate and serving is untouched;
* failed: any exception, with its message and traceback in the report. A killed worker cannot
  write that, so its run stays 'running' without a lock holder until `recover` (called before
  every claim, by the worker's poll and at its start) marks it failed and writes its report.

The serving adapter changes only through `store.adapter_registry.promote`, the last step.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from store.adapter_registry import AdapterRecord, promote, register_adapter, serving_adapter
from store.insight import FeedbackCount, recent_feedback_weeks
from store.run_claims import claimed_run, update_run
from store.training_runs import RunRecord, mark_run_finished, open_training_run, request_training_run
from training.config import LoopConfig, TrainConfig
from training.dataset_export import export_dataset
from training.dataset_files import DatasetFiles, read_dataset
from training.evaluation import GateReport, evaluate_candidate
from training.heartbeat import Heartbeat
from training.progress import RunProgress
from training.recovery import fail_run, recover_runs, report_dir_of
from training.report import RunReport, write_report
from training.trainer import ProgressHook, TrainResult, train_adapter

logger = logging.getLogger(__name__)

ACTOR = "training"
"""Who the deployment log names for automatic promotions."""

HEARTBEAT_S = 10.0
"""How often a running run's worker refreshes `heartbeat_at` by default."""

LOSS_POINTS = 200
"""At most this many (step, loss) points go into the run's metrics, for the bot to draw the loss chart."""


class ConfigurationError(RuntimeError):
    """Raised when the loop's inputs (base model, golden set) are missing; the message says what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopPaths:
    """Where the loop reads and writes.

    Attributes:
        base_model: the base model folder every adapter is trained on.
        datasets_root, adapters_root, reports_root: parents of the version and report folders.
        golden_set: optional curated JSONL of {"prompt", "completion"} the gate also scores.
    """

    base_model: Path
    datasets_root: Path
    adapters_root: Path
    reports_root: Path
    golden_set: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainRequest:
    """What a train step needs: in this process, or in `accelerate launch` subprocesses."""

    base_model: Path
    dataset: DatasetFiles
    config: TrainConfig
    target: Path
    on_progress: ProgressHook | None = None


TrainStep = Callable[[TrainRequest], TrainResult]


def train_in_process(request: TrainRequest) -> TrainResult:
    """The default train step: train in this process (CPU or one GPU)."""
    return train_adapter(base_model=request.base_model, dataset=request.dataset, config=request.config,
                         target=request.target, on_progress=request.on_progress)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutcome:
    """How a run ended."""

    run_id: int
    status: str
    message: str
    adapter_id: int | None = None
    report_path: str | None = None


def recover(engine: Engine, paths: LoopPaths) -> list[int]:
    """Fail runs whose worker died (with their reports) and remove half-written versions; see `training.recovery`."""
    return recover_runs(sessionmaker(engine, expire_on_commit=False), reports_root=paths.reports_root,
                        version_roots=(paths.datasets_root, paths.adapters_root))


def load_golden_set(path: Path | None) -> list[dict[str, Any]]:
    """Rows of the curated golden set, or none when not configured."""
    if path is None:
        return []
    if not path.is_file():
        raise ConfigurationError(f"golden set {path} does not exist (unset TRAINING_GOLDEN_SET or create it)")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or not isinstance(
                row.get("completion"), str):
            raise ConfigurationError(f"golden set {path} line {number}: needs string 'prompt' and 'completion'")
    return rows


def process_next_run(engine: Engine, *, paths: LoopPaths, config: LoopConfig, run_id: int | None = None,
                     train_step: TrainStep = train_in_process, heartbeat_s: float = HEARTBEAT_S) -> RunOutcome | None:
    """Recover dead runs, then claim and execute the oldest queued run (or `run_id`); None if none is queued."""
    recover(engine, paths)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with claimed_run(engine, run_id=run_id) as run:
        if run is None:
            return None
        logger.info("run %d claimed (trigger %s)", run.id, run.trigger)
        try:
            with Heartbeat(sessions, run.id, interval_s=heartbeat_s):
                return _execute(sessions, run, paths=paths, config=config, train_step=train_step,
                                progress=RunProgress(sessions, run.id))
        except BaseException as exc:  # a KeyboardInterrupt must still leave the run failed
            message = f"{type(exc).__name__}: {exc}".strip()[:2000]
            logger.exception("run %d failed", run.id)
            report_path = fail_run(sessions, paths.reports_root, run.id, message=message,
                                   error=traceback.format_exc())
            if not isinstance(exc, Exception):
                raise
            return RunOutcome(run_id=run.id, status="failed", message=message, report_path=report_path)


def process_queued_runs(engine: Engine, *, paths: LoopPaths, config: LoopConfig,
                        train_step: TrainStep = train_in_process, heartbeat_s: float = HEARTBEAT_S) -> list[RunOutcome]:
    """Execute queued runs until none is left (a trigger may arrive while one runs)."""
    outcomes: list[RunOutcome] = []
    while (outcome := process_next_run(engine, paths=paths, config=config, train_step=train_step,
                                       heartbeat_s=heartbeat_s)) is not None:
        outcomes.append(outcome)
    return outcomes


def _execute(sessions: sessionmaker[Session], run: RunRecord, *, paths: LoopPaths, config: LoopConfig,
             train_step: TrainStep, progress: RunProgress) -> RunOutcome:
    report_dir = report_dir_of(paths.reports_root, run.id)
    progress.phase("dataset")
    export = export_dataset(sessions, datasets_root=paths.datasets_root, config=config.dataset)
    if export.dataset is None:
        message = f"skipped: {export.skip_reason}"
        report_path = str(write_report(report_dir, RunReport(run_id=run.id, status="skipped", summary=message,
                                                              dataset={"stats": export.stats},
                                                              feedback_weeks=_feedback_weeks(sessions))))
        with sessions() as session, session.begin():
            mark_run_finished(session, run.id, status="skipped", message=message, report_path=report_path,
                              metrics={"answers_read": export.stats.get("answers_read", 0),
                                       "dataset": {"stats": export.stats}})
        return RunOutcome(run_id=run.id, status="skipped", message=message, report_path=report_path)

    dataset_info = {"version": export.dataset.version, "objective": export.objective, "stats": export.stats,
                    "weights": export.dataset.manifest.get("weights", {})}
    with sessions() as session, session.begin():
        update_run(session, run.id, dataset_id=export.dataset.id, hyperparameters=config.train.as_dict(),
                   metrics={"dataset": dataset_info})
    if not (paths.base_model / "config.json").is_file():
        raise ConfigurationError(f"base model folder {paths.base_model} is missing or incomplete "
                                 "(create it with `python -m bot setup-model` or set TRAINING_BASE_MODEL)")
    dataset = read_dataset(Path(export.dataset.path))
    golden = dataset.rows.get("golden", []) + load_golden_set(paths.golden_set)
    name = f"run{run.id}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    progress.phase("training")
    result = train_step(TrainRequest(base_model=paths.base_model, dataset=dataset, config=config.train,
                                     target=paths.adapters_root / name, on_progress=progress.step))
    with sessions() as session:
        current = _comparable(serving_adapter(session), paths.base_model)
    progress.phase("evaluating")
    gate = evaluate_candidate(base_model=paths.base_model, candidate=result.adapter_dir,
                              current=Path(current.path) if current else None,
                              current_name=current.name if current else "base",
                              eval_rows=dataset.rows["kto_eval"], golden_rows=golden, config=config.gate)
    progress.phase("publishing")
    return _finish(sessions, run, name=name, result=result, gate=gate, dataset_info=dataset_info,
                   report_dir=report_dir, paths=paths, phase_seconds=progress.phase_seconds())


def _feedback_weeks(sessions: sessionmaker[Session]) -> list[FeedbackCount]:
    """Votes per week for the run's report, read in a session of their own."""
    with sessions() as session:
        return recent_feedback_weeks(session)


def _comparable(current: AdapterRecord | None, base_model: Path) -> AdapterRecord | None:
    """The serving adapter if the gate can load it on our base model; otherwise compare with the base."""
    if current is None:
        return None
    if not Path(current.path).is_dir() or Path(current.base_model).resolve() != base_model.resolve():
        logger.warning("serving adapter %s is missing or was trained on another base; gating against the base model",
                       current.name)
        return None
    return current


def _finish(sessions: sessionmaker[Session], run: RunRecord, *, name: str, result: TrainResult, gate: GateReport,
            dataset_info: dict[str, Any], report_dir: Path, paths: LoopPaths,
            phase_seconds: dict[str, float]) -> RunOutcome:
    objective = result.objective.upper()
    if gate.passed:
        status, summary = "succeeded", f"promoted {name} ({objective}, {result.metrics['rows']} rows): " + \
            "; ".join(gate.reasons)
    else:
        status, summary = "rejected", f"kept the serving model; {name} ({objective}) rejected: " + \
            "; ".join(gate.reasons)
    adapter_info = {"name": name, "path": str(result.adapter_dir), "sha256": result.sha256}
    report_path = str(write_report(report_dir, RunReport(
        run_id=run.id, status=status, summary=summary, dataset=dataset_info, training=result.metrics,
        loss_curve=result.loss_curve, gate=gate.as_dict(), adapter=adapter_info,
        feedback_weeks=_feedback_weeks(sessions))))
    # Top-level scalars are the run's headline (JSONB keeps no key order: readers pick them by name).
    metrics = {**gate_figures(gate), "reward_margin": _rounded(gate.candidate.margin),
               "reward_margin_before": _rounded(gate.current.margin), "good_loglik": _rounded(gate.candidate.good),
               "general_ppl": _rounded(gate.candidate.general_perplexity),
               "golden_f1": _rounded(gate.candidate.golden_f1),
               "train_rows": result.metrics["rows"], "steps": result.metrics["steps"],
               "dataset": dataset_info, "training": result.metrics, "gate": gate.as_dict(),
               "loss_curve": thinned(result.loss_curve, LOSS_POINTS), "phase_seconds": phase_seconds}
    with sessions() as session, session.begin():
        adapter = register_adapter(session, name=name, path=str(result.adapter_dir), base_model=str(paths.base_model),
                                   sha256=result.sha256, training_run_id=run.id,
                                   metrics={"training": result.metrics, "gate": gate.as_dict()})
        if gate.passed:
            promote(session, adapter.id, actor=ACTOR, reason=f"training run {run.id}: gate passed")
        mark_run_finished(session, run.id, status=status, message=summary, metrics=metrics,
                          report_path=report_path, adapter_id=adapter.id)
    logger.info("run %d %s: %s", run.id, status, summary)
    return RunOutcome(run_id=run.id, status=status, message=summary, adapter_id=adapter.id, report_path=report_path)


def request_run(engine: Engine, paths: LoopPaths, *, trigger: str, requested_by: str | None = None) -> RunRecord:
    """Queue a run (or join the open one) after clearing runs of dead workers, which would block the queue."""
    recover(engine, paths)
    with sessionmaker(engine, expire_on_commit=False).begin() as session:
        run, _created = request_training_run(session, trigger=trigger, requested_by=requested_by)
    return run


def has_queued_run(engine: Engine, paths: LoopPaths) -> bool:
    """Recover dead runs, then say whether a run is waiting to be executed."""
    recover(engine, paths)
    with sessionmaker(engine, expire_on_commit=False)() as session:
        run = open_training_run(session)
    return run is not None and run.status == "queued"


def gate_figures(gate: GateReport) -> dict[str, Any]:
    """The gate's headline for the run's metrics: gain, its lower bound and held-out rows per class."""
    return {"gate_gain": _rounded(gate.gain.point) if gate.gain else None,
            "gate_gain_lower": _rounded(gate.gain.lower) if gate.gain else None,
            "held_out_good": len(gate.candidate.good_rows), "held_out_bad": len(gate.candidate.bad_rows)}


def thinned(curve: list[tuple[int, float]], most: int) -> list[list[float]]:
    """At most `most` evenly spaced points of `curve`, the last one always kept, as JSON-ready pairs."""
    stride = max(1, -(-len(curve) // most))
    kept = curve[::stride]
    if curve and kept[-1] != curve[-1]:
        kept = [*kept[: most - 1], curve[-1]]
    return [[step, round(loss, 5)] for step, loss in kept]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
