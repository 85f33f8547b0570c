"""Train a LoRA adapter on a dataset version with TRL: KTO by default, SFT as the fallback (adapter: trl/peft).

The base model stays frozen; only the LoRA matrices on the attention projections train. KTO reads
the rows in the order the dataset builder wrote them (TRL's KTO sampler is sequential and the KL
estimate pairs neighbours inside a batch, so the builder pre-shuffles and interleaves 👍/👎).
Rows whose prompt + completion exceed `max_length` tokens are dropped and counted rather than cut,
so no example trains on a completion without its context; `max_length` 0 takes it from the rows'
lengths, and `max_train_tokens` keeps the leading rows that fit a token budget (`training.profiles`).

The adapter is written into a staging folder and renamed into its immutable version folder only
when complete. Under `accelerate launch` (DDP, one process per GPU) every process trains its
shard; the main process alone writes metadata and publishes the folder.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback, set_seed

from training.artifacts import abandon, directory_sha256, publish, stage, staging_dir
from training.config import TrainConfig
from training.dataset_files import DatasetFiles
from training.profiles import max_length_from_lengths, rows_within_budget
from training.scoring import completion_token_ids

logger = logging.getLogger(__name__)

PROVENANCE_FILE = "kbbot-training.json"
"""Written into every adapter folder: base model, dataset version, hyper-parameters, metrics."""

ProgressHook = Callable[[dict[str, float]], None]


class TrainingInputError(ValueError):
    """Raised when the dataset cannot train the requested objective; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainResult:
    """A published adapter version and how its training went.

    Attributes:
        adapter_dir: the immutable version folder (PEFT layout plus `kbbot-training.json`).
        objective: "kto" or "sft".
        sha256: content hash of the folder.
        metrics: final loss, steps, runtime, token throughput, rows used and dropped.
        loss_curve: (step, training loss) for every logged step.
    """

    adapter_dir: Path
    objective: str
    sha256: str
    metrics: dict[str, Any]
    loss_curve: list[tuple[int, float]]


def format_duration(seconds: float) -> str:
    """`1h02m`, `7m35s` or `42s`: how long, for a log line."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class _LossRecorder(TrainerCallback):
    """Keeps the loss of every logged step, logs step, loss and ETA, and forwards them to an optional hook.

    The ETA is the mean time per step so far times the steps left (steps are of equal size, so
    this settles after the first few).
    """

    def __init__(self, hook: ProgressHook | None) -> None:
        self.curve: list[tuple[int, float]] = []
        self.last: dict[str, float] = {}
        self._hook = hook
        self._started = time.perf_counter()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.perf_counter()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None,
               **kwargs: Any) -> None:
        if not logs or not state.is_world_process_zero:
            return
        step, max_steps = int(state.global_step), int(state.max_steps)
        elapsed = time.perf_counter() - self._started
        eta = elapsed / step * max(0, max_steps - step) if step else None
        if "loss" in logs:
            self.curve.append((step, float(logs["loss"])))
            self.last = {key: float(value) for key, value in logs.items() if isinstance(value, int | float)}
            logger.info("step %d/%d loss %.4f · %.1f s/step · ETA %s", step, max_steps, logs["loss"],
                        elapsed / max(step, 1), format_duration(eta) if eta is not None else "?")
        if self._hook is not None:
            self._hook({**logs, "step": step, "max_steps": max_steps, "elapsed_s": round(elapsed, 1),
                        **({"eta_s": round(eta, 1)} if eta is not None else {})})


def resolve_objective(config: TrainConfig, dataset: DatasetFiles) -> str:
    return dataset.objective if config.objective == "auto" else config.objective


@dataclass(frozen=True, slots=True, kw_only=True)
class _Selection:
    """The rows a run trains on and why the others were left out."""

    rows: list[dict[str, Any]]
    max_length: int
    too_long: int
    over_budget: int
    tokens: int


def _rows(dataset: DatasetFiles, objective: str, tokenizer: Any, config: TrainConfig) -> _Selection:
    """The training rows that fit `max_length` (resolved from the data when 0) and the token budget."""
    source = dataset.rows["kto_train" if objective == "kto" else "sft_train"]
    lengths: list[int] = []
    usable: list[tuple[dict[str, Any], int]] = []
    for row in source:
        ids, start = completion_token_ids(tokenizer, row["prompt"], row["completion"])
        if start >= len(ids):
            continue
        lengths.append(len(ids))
        usable.append(({"prompt": row["prompt"], "completion": row["completion"]} |
                       ({"label": bool(row["label"])} if objective == "kto" else {}), len(ids)))
    max_length = config.max_length or max_length_from_lengths(lengths, quantile=config.length_quantile,
                                                              cap=config.max_length_cap)
    fitting = [(row, length) for row, length in usable if length <= max_length]
    count = rows_within_budget([length for _, length in fitting], max_tokens=config.max_train_tokens,
                               multiple=config.batch_size * config.gradient_accumulation_steps)
    kept = fitting[:count]
    return _Selection(rows=[row for row, _ in kept], max_length=max_length, too_long=len(source) - len(fitting),
                      over_budget=len(fitting) - count, tokens=sum(length for _, length in kept))


def _common_args(config: TrainConfig, output_dir: Path, max_length: int) -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    return {
        "output_dir": str(output_dir), "per_device_train_batch_size": config.batch_size,
        # Reference/eval scoring in training-sized batches: the library's default of 8 rows at 1,024
        # tokens holds two 1.6 GB float32 logit tensors (measured: 7.2 GB peak RSS on product prompts).
        "per_device_eval_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps, "learning_rate": config.learning_rate,
        "num_train_epochs": config.epochs, "max_steps": config.max_steps or -1, "seed": config.seed,
        "data_seed": config.seed, "logging_steps": 1, "save_strategy": "no", "eval_strategy": "no",
        "report_to": "none", "use_cpu": not cuda, "fp16": False,
        "bf16": torch.cuda.is_bf16_supported() if cuda else config.cpu_bf16,
        "activation_checkpointing": config.gradient_checkpointing, "disable_tqdm": not config.progress_bar,
        "max_length": max_length, "dataloader_num_workers": 0, "lr_scheduler_type": "linear",
    }


def train_adapter(*, base_model: Path, dataset: DatasetFiles, config: TrainConfig, target: Path,
                  on_progress: ProgressHook | None = None) -> TrainResult:
    """Train one adapter on `dataset` and publish it at `target` (which must not exist yet).

    Raises:
        TrainingInputError: the objective needs rows the dataset lacks (after length filtering).
        VersionExists: `target` already exists.
    """
    objective = resolve_objective(config, dataset)
    set_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    selection = _rows(dataset, objective, tokenizer, config)
    rows, tokens = selection.rows, selection.tokens
    if len(rows) < config.batch_size:
        raise TrainingInputError(f"only {len(rows)} training rows fit max_length={selection.max_length} "
                                 f"({selection.too_long} too long); a batch needs {config.batch_size}")
    logger.info("training on %d rows, %d tokens; max_length %d (%d rows longer), %d rows over the "
                "%s-token budget%s", len(rows), tokens, selection.max_length, selection.too_long,
                selection.over_budget, config.max_train_tokens or "unlimited",
                "; reference log-probs first" if objective == "kto" and config.precompute_ref_log_probs else "")
    labels = {row["label"] for row in rows} if objective == "kto" else {True}
    if objective == "kto" and labels != {True, False}:
        raise TrainingInputError("KTO needs both 👍 and 👎 rows; the dataset has only one class")

    weights = dataset.manifest.get("weights", {})
    args = _trainer_args(objective, config, staging_dir(target), weights, selection.max_length)
    _ = args.device  # sets up the (possibly distributed) process state before anyone asks who is main
    state = PartialState()
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules), bias="none", task_type="CAUSAL_LM")
    staging = stage(target) if state.is_main_process else None
    try:
        state.wait_for_everyone()  # the staging folder exists before any process writes into it
        metrics, curve = _train(model, tokenizer, rows, args=args, objective=objective, config=config, lora=lora,
                                state=state, tokens=tokens, on_progress=on_progress)
        metrics |= {"rows_dropped_too_long": selection.too_long, "rows_over_token_budget": selection.over_budget,
                    "max_length": selection.max_length}
        if staging is not None:
            (staging.path / PROVENANCE_FILE).write_text(json.dumps({
                "base_model": str(base_model), "dataset_version": dataset.version, "objective": objective,
                "hyperparameters": config.as_dict(), "kto_weights": weights, "metrics": metrics,
                "loss_curve": curve}, indent=2, sort_keys=True) + "\n")
            publish(staging)
        state.wait_for_everyone()
    finally:
        if staging is not None:
            abandon(staging)
    return TrainResult(adapter_dir=target, objective=objective, sha256=directory_sha256(target), metrics=metrics,
                       loss_curve=curve)


def _trainer_args(objective: str, config: TrainConfig, output: Path, weights: dict[str, Any],
                  max_length: int) -> Any:
    if objective == "kto":
        from trl import KTOConfig

        return KTOConfig(**_common_args(config, output, max_length), beta=config.beta,
                         precompute_ref_log_probs=config.precompute_ref_log_probs,
                         precompute_ref_batch_size=config.batch_size,
                         desirable_weight=float(weights.get("desirable_weight", 1.0)),
                         undesirable_weight=float(weights.get("undesirable_weight", 1.0)))
    from trl import SFTConfig

    return SFTConfig(**_common_args(config, output, max_length), packing=False, completion_only_loss=True)


def _train(model: Any, tokenizer: Any, rows: list[dict[str, Any]], *, args: Any, objective: str,
           config: TrainConfig, lora: LoraConfig, state: PartialState, tokens: int,
           on_progress: ProgressHook | None) -> tuple[dict[str, Any], list[tuple[int, float]]]:
    """Run the TRL trainer and save the adapter into `args.output_dir`; return metrics and the loss curve."""
    recorder = _LossRecorder(on_progress)
    started = time.perf_counter()  # the trainers tokenise (and KTO may score the reference) when built
    if objective == "kto":
        from trl import KTOTrainer

        trainer: Any = KTOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                  processing_class=tokenizer, peft_config=lora, callbacks=[recorder])
    else:
        from trl import SFTTrainer

        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                             processing_class=tokenizer, peft_config=lora, callbacks=[recorder])
    if not config.progress_bar:
        trainer.remove_callback(PrinterCallback)  # the recorder logs each step; no raw dicts on stdout
    result = trainer.train()
    runtime = time.perf_counter() - started
    trainer.save_model(args.output_dir)  # every process calls it; only the main one writes
    state.wait_for_everyone()
    epochs_done = float(trainer.state.epoch or 0.0)
    metrics: dict[str, Any] = {
        "objective": objective, "train_loss": float(result.training_loss), "steps": int(trainer.state.global_step),
        "epochs": round(epochs_done, 4), "runtime_s": round(runtime, 3), "rows": len(rows),
        "processes": state.num_processes, "train_tokens": int(tokens * epochs_done),
        "tokens_per_s": round(tokens * epochs_done / runtime, 2) if runtime > 0 else None,
        "device": str(trainer.args.device), "final_log": recorder.last,
    }
    return metrics, recorder.curve
