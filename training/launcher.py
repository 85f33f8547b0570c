"""Train in `accelerate launch` subprocesses instead of in the worker (adapter: subprocess).

The scale-out path: with N processes on N GPUs, accelerate runs DDP (each process holds the
frozen base plus the LoRA weights and trains a shard of every batch; gradients are averaged).
The subprocess is `python -m training train` with the dataset folder and the target adapter
folder as arguments, so it needs no database; its result is read back from the adapter's
provenance file, and its progress (step, loss, ETA) from a small JSON file the worker relays to the
run's record every second. A fresh process per run also hands all GPU memory back when it ends.

Equivalent command line for a manual run:

    accelerate launch --multi_gpu --num_processes 4 -m training train --dataset var/training/datasets/ds-…
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import torch

from training.artifacts import directory_sha256
from training.pipeline import TrainRequest, TrainStep
from training.progress import read_progress_file
from training.trainer import PROVENANCE_FILE, TrainResult

logger = logging.getLogger(__name__)


class LaunchFailed(RuntimeError):
    """Raised when the training subprocesses exit with an error; the message carries their exit code."""


PROGRESS_POLL_S = 1.0


def progress_file(request: TrainRequest) -> Path:
    """Where the subprocess writes its progress: beside the adapter's future folder, hidden."""
    return request.target.parent / f".progress-{request.target.name}.json"


def launch_command(request: TrainRequest, *, num_processes: int, cpu: bool) -> list[str]:
    """The `accelerate launch … -m training train …` argv for `request`."""
    # On CPU accelerate would want MPI for several processes, and they would only share the same cores.
    processes = 1 if cpu else num_processes
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    if cpu:
        command.append("--cpu")
    elif processes > 1:
        command.append("--multi_gpu")
    return command + ["-m", "training", "train", "--base-model", str(request.base_model),
                      "--dataset", str(request.dataset.path),
                      "--output", str(request.target), "--config-json", json.dumps(request.config.as_dict()),
                      "--progress-file", str(progress_file(request)), "--no-register"]


def read_result(adapter_dir: Path) -> TrainResult:
    """The TrainResult a (sub)process left in a published adapter folder."""
    provenance = json.loads((adapter_dir / PROVENANCE_FILE).read_text())
    return TrainResult(adapter_dir=adapter_dir, objective=provenance["objective"],
                       sha256=directory_sha256(adapter_dir), metrics=provenance["metrics"],
                       loss_curve=[(int(step), float(loss)) for step, loss in provenance["loss_curve"]])


def accelerate_train_step(num_processes: int, *, cpu: bool | None = None) -> TrainStep:
    """A train step that runs `num_processes` accelerate processes (CPU when no GPU is visible)."""
    use_cpu = (not torch.cuda.is_available()) if cpu is None else cpu

    def step(request: TrainRequest) -> TrainResult:
        command = launch_command(request, num_processes=num_processes, cpu=use_cpu)
        logger.info("launching %s", " ".join(command[:12]) + " …")
        request.target.parent.mkdir(parents=True, exist_ok=True)
        figures_file = progress_file(request)
        process = subprocess.Popen(command)
        try:
            while True:
                try:
                    returncode = process.wait(timeout=PROGRESS_POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if request.on_progress is not None and (figures := read_progress_file(figures_file)):
                    request.on_progress(figures)
            if request.on_progress is not None and (figures := read_progress_file(figures_file)):
                request.on_progress(figures)  # the last step too, however fast it came
        finally:
            if process.poll() is None:  # the worker is being interrupted: do not leave training orphaned
                process.terminate()
                process.wait(timeout=60)
            figures_file.unlink(missing_ok=True)
        if returncode != 0:
            raise LaunchFailed(f"accelerate launch exited with code {returncode}")
        return read_result(request.target)

    return step
