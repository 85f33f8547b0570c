"""`python -m training`: every command documented, the admin commands on a real database, accelerate launch."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from store.adapter_registry import register_adapter, serving_adapter
from tests.runs import newest_run, queue_run
from tests.tiny_models import build_tiny_lora_adapter
from tests.training.feedback_fixtures import FAST_TRAINING, LOOP, feedback_items, write_dataset
from training.__main__ import cli
from training.launcher import accelerate_train_step, launch_command
from training.pipeline import LoopPaths, TrainRequest, process_next_run
from training.trainer import PROVENANCE_FILE


@pytest.fixture
def env(database_url: str, loop_paths: LoopPaths) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "TRAINING_BASE_MODEL": str(loop_paths.base_model),
            "TRAINING_DATA_DIR": str(loop_paths.datasets_root.parent), "TRAINING_MIN_DESIRABLE": "4",
            "TRAINING_MIN_UNDESIRABLE": "4", "TRAINING_MIN_EVAL_EXAMPLES": "2", "TRAINING_EVAL_FRACTION": "0.25"}


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help(command: str) -> None:
    assert cli.commands[command].help, command
    assert CliRunner().invoke(cli, [command, "--help"]).exit_code == 0


def test_build_dataset_prints_the_version_and_counts(sessions: sessionmaker[Session], seed,
                                                     env: dict[str, str]) -> None:
    seed(feedback_items(24))
    result = CliRunner().invoke(cli, ["build-dataset"], env=env)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["version"].startswith("ds-") and payload["objective"] == "kto" and payload["skipped"] is None
    assert Path(payload["path"], "manifest.json").is_file()


def test_run_once_queues_and_executes_a_run(sessions: sessionmaker[Session], env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["run-once"], env=env)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["status"] == "skipped" and newest_run(sessions).trigger == "cli"


def test_promote_and_rollback_from_the_command_line(sessions: sessionmaker[Session], env: dict[str, str],
                                                    loop_paths: LoopPaths) -> None:
    folder = build_tiny_lora_adapter(loop_paths.base_model, loop_paths.adapters_root / "a1", seed=1)
    with sessions() as session, session.begin():
        adapter = register_adapter(session, name="a1", path=str(folder), base_model=str(loop_paths.base_model))
    runner = CliRunner()
    promoted = runner.invoke(cli, ["promote", str(adapter.id), "--actor", "UADMIN"], env=env)
    assert promoted.exit_code == 0 and "serving a1" in promoted.output
    with sessions() as session:
        assert serving_adapter(session).id == adapter.id
    rolled = runner.invoke(cli, ["rollback", "--actor", "UADMIN"], env=env)
    assert rolled.exit_code == 0 and "serving the base model" in rolled.output
    with sessions() as session:
        assert serving_adapter(session) is None


def test_bad_settings_are_reported_in_one_line(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["build-dataset"], env=env | {"TRAINING_BATCH_SIZE": "1"})
    assert result.exit_code == 1 and "`batch_size` must be at least 2" in result.output


def test_the_launch_command_uses_ddp_for_several_gpus_and_one_process_on_cpu(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "ds-launch", feedback_items(24))
    request = TrainRequest(base_model=tmp_path, dataset=dataset, config=FAST_TRAINING, target=tmp_path / "a")
    gpu = launch_command(request, num_processes=4, cpu=False)
    assert gpu[1:3] == ["-m", "accelerate.commands.launch"] and "--multi_gpu" in gpu
    assert gpu[gpu.index("--num_processes") + 1] == "4"
    assert gpu[gpu.index("-m", 3):][:3] == ["-m", "training", "train"] and "--no-register" in gpu
    assert gpu[gpu.index("--base-model") + 1] == str(tmp_path)
    cpu = launch_command(request, num_processes=4, cpu=True)
    assert "--cpu" in cpu and cpu[cpu.index("--num_processes") + 1] == "1" and "--multi_gpu" not in cpu


def test_a_run_trains_through_accelerate_launch(engine, sessions: sessionmaker[Session], seed,
                                                loop_paths: LoopPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    """`accelerate launch --cpu --num_processes 1 -m training train …` as the worker runs it."""
    monkeypatch.setenv("TRAINING_TORCH_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    seed(feedback_items(24))
    queue_run(sessions, trigger="admin")
    relayed: list[dict] = []
    launch = accelerate_train_step(1, cpu=True)

    def spied(request: TrainRequest):
        def hook(figures: dict) -> None:
            relayed.append(figures)
            request.on_progress(figures)

        return launch(replace(request, on_progress=hook))

    outcome = process_next_run(engine, paths=loop_paths, config=LOOP, train_step=spied)
    assert outcome is not None and outcome.status == "succeeded", outcome
    run = newest_run(sessions)
    assert run.metrics["training"]["processes"] == 1 and run.metrics["training"]["steps"] > 0
    # The subprocess's progress reached the worker (and through it the run's record), the last step included.
    assert relayed and relayed[-1]["step"] == relayed[-1]["max_steps"] == run.metrics["training"]["steps"]
    assert not list(loop_paths.adapters_root.glob(".progress-*"))
    with sessions() as session:
        assert Path(serving_adapter(session).path, PROVENANCE_FILE).is_file()


def test_train_writes_an_adapter_from_a_dataset_folder(tmp_path: Path, env: dict[str, str]) -> None:
    dataset = write_dataset(tmp_path / "ds-cli", feedback_items(24))
    target = tmp_path / "adapter"
    config = json.dumps(FAST_TRAINING.as_dict() | {"epochs": 1})
    result = CliRunner().invoke(cli, ["train", "--dataset", str(dataset.path), "--output", str(target),
                                      "--config-json", config, "--no-register"], env=env)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index("{"):])
    assert payload["adapter_dir"] == str(target) and (target / "adapter_model.safetensors").is_file()


def test_train_runs_data_parallel_under_accelerate_launch(tmp_path: Path, tiny_base_dir: Path) -> None:
    """The scale-out path: `accelerate launch --multi_gpu --num_processes 2 -m training train` (DDP).

    Without visible GPUs torchrun runs the two processes on CPU with the gloo backend, which is enough
    to show each process trains half of every batch and only the main process publishes the adapter.
    """
    dataset = write_dataset(tmp_path / "ds-ddp", feedback_items(24))
    target = tmp_path / "adapter"
    config = json.dumps(FAST_TRAINING.as_dict() | {"epochs": 2})
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", "0", "-m", "training", "train", "--base-model", str(tiny_base_dir),
               "--dataset", str(dataset.path), "--output", str(target), "--config-json", config, "--no-register"]
    env = os.environ | {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "TRAINING_TORCH_THREADS": "1"}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-3000:]
    provenance = json.loads((target / PROVENANCE_FILE).read_text())
    rows = len(dataset.rows["kto_train"])
    assert provenance["metrics"]["processes"] == 2
    assert provenance["metrics"]["steps"] == 2 * math.ceil(rows / (FAST_TRAINING.batch_size * 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter", "ds-ddp"]  # no second copy, no staging
