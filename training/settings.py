"""Environment of training processes (entry): read once in `training/__main__.py`, never elsewhere.

Every variable is prefixed TRAINING_ except the shared DATABASE_URL and KB_PG_DATA_DIR. The
settings only turn into the frozen configs of `training.config` and the paths of the pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from training.config import DatasetConfig, GateConfig, LoopConfig, TrainConfig
from training.pipeline import LoopPaths


class TrainingSettings(BaseSettings):
    """The learning loop's environment.

    Attributes:
        database_url: DATABASE_URL; empty means the embedded Postgres under `pg_data_dir`.
        pg_data_dir: KB_PG_DATA_DIR, shared with the bot and `python -m knowledge`.
        base_model: TRAINING_BASE_MODEL, the base model folder (`python -m bot setup-model` makes the default).
        data_dir: TRAINING_DATA_DIR; datasets/, adapters/ and reports/ live under it.
        golden_set: TRAINING_GOLDEN_SET, optional JSONL of {"prompt", "completion"} the gate also scores.
        cron: TRAINING_CRON, when the periodic retrain is requested (procrastinate cron syntax).
        poll_cron: TRAINING_POLL_CRON, how often the worker looks for runs the bot queued and for dead
            workers' runs and jobs (a sixth cron field gives seconds); a queued run starts within one.
        launcher: TRAINING_LAUNCHER, "inprocess", or "accelerate" to train in `accelerate launch`
            subprocesses (`num_processes` of them; several GPUs → DDP).
        torch_threads: TRAINING_TORCH_THREADS, CPU threads for torch (0 leaves torch's default).
        heartbeat_s: TRAINING_HEARTBEAT_S, how often the worker says it is alive: on the running
            run (`/kb status` shows the age) and in procrastinate's worker table.
        stalled_after_s: TRAINING_STALLED_AFTER_S, a worker silent this long is dead and the poll
            fails its execute jobs (its run is failed at once: the run's advisory lock died with it).
        min_eval_per_class: TRAINING_MIN_EVAL_PER_CLASS, held-out 👍 and 👎 each run needs; the
            dataset split and the gate both use it.
        The other fields mirror `DatasetConfig`, `TrainConfig` and `GateConfig` (gate_* for the gate).
    """

    model_config = SettingsConfigDict(env_prefix="TRAINING_", frozen=True, extra="ignore")

    database_url: str = Field(default="", validation_alias="DATABASE_URL")
    pg_data_dir: Path = Field(default=Path("var/pgdata"), validation_alias="KB_PG_DATA_DIR")
    base_model: Path = Path("var/models/SmolLM2-135M-Instruct")
    data_dir: Path = Path("var/training")
    golden_set: Path | None = None
    cron: str = "0 3 * * 0"
    poll_cron: str = "* * * * *"
    launcher: Literal["inprocess", "accelerate"] = "inprocess"
    num_processes: int = 1
    torch_threads: int = 0
    heartbeat_s: float = Field(default=10.0, gt=0)
    stalled_after_s: float = Field(default=30.0, gt=0)

    min_desirable: int = 20
    min_undesirable: int = 20
    min_eval_examples: int = 4
    min_eval_per_class: int = 4
    one_class_policy: str = "sft"
    eval_fraction: float = 0.2
    max_channel_share: float = 0.5
    near_duplicate_threshold: float = 0.9
    asker_weight: int = 2
    include_private_scopes: bool = False
    exclude_without_passages: bool = True

    objective: str = "auto"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str = "q_proj,k_proj,v_proj,o_proj"
    learning_rate: float = 5e-5
    epochs: float = 2.0
    max_steps: int = 0
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    beta: float = 0.1
    max_length: int = 1024
    seed: int = 0
    gradient_checkpointing: bool = False
    progress_bar: bool = True

    gate_min_margin_gain: float = 0.01
    gate_bootstrap_resamples: int = 1000
    gate_confidence: float = 0.95
    gate_good_tolerance: float = 0.05
    gate_golden_generate_rows: int = 8
    gate_golden_max_new_tokens: int = 64
    gate_golden_f1_tolerance: float = 0.05
    gate_general_tolerance: float = 0.05
    gate_batch_size: int = 8

    @model_validator(mode="after")
    def _stalled_after_heartbeats(self) -> TrainingSettings:
        if self.stalled_after_s < 2 * self.heartbeat_s:
            raise ValueError(f"TRAINING_STALLED_AFTER_S ({self.stalled_after_s}) must be at least twice "
                             f"TRAINING_HEARTBEAT_S ({self.heartbeat_s}), or live workers would look dead")
        return self

    def loop_config(self) -> LoopConfig:
        """The validated configs (raises ValueError naming a bad field)."""
        dataset = DatasetConfig(
            min_desirable=self.min_desirable, min_undesirable=self.min_undesirable,
            min_eval_examples=self.min_eval_examples, min_eval_per_class=self.min_eval_per_class,
            one_class_policy=self.one_class_policy,
            eval_fraction=self.eval_fraction, max_channel_share=self.max_channel_share,
            near_duplicate_threshold=self.near_duplicate_threshold, asker_weight=self.asker_weight,
            include_private_scopes=self.include_private_scopes,
            exclude_without_passages=self.exclude_without_passages, seed=self.seed)
        train = TrainConfig(
            objective=self.objective, lora_r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
            target_modules=tuple(m.strip() for m in self.target_modules.split(",") if m.strip()),
            learning_rate=self.learning_rate, epochs=self.epochs, max_steps=self.max_steps,
            batch_size=self.batch_size, gradient_accumulation_steps=self.gradient_accumulation_steps,
            beta=self.beta, max_length=self.max_length, seed=self.seed,
            gradient_checkpointing=self.gradient_checkpointing, progress_bar=self.progress_bar)
        gate = GateConfig(min_per_class=self.min_eval_per_class, min_margin_gain=self.gate_min_margin_gain,
                          bootstrap_resamples=self.gate_bootstrap_resamples, confidence=self.gate_confidence,
                          seed=self.seed, good_tolerance=self.gate_good_tolerance,
                          golden_generate_rows=self.gate_golden_generate_rows,
                          golden_max_new_tokens=self.gate_golden_max_new_tokens,
                          golden_f1_tolerance=self.gate_golden_f1_tolerance,
                          general_tolerance=self.gate_general_tolerance, max_length=self.max_length,
                          batch_size=self.gate_batch_size)
        return LoopConfig(dataset=dataset, train=train, gate=gate)

    def paths(self) -> LoopPaths:
        return LoopPaths(base_model=self.base_model, datasets_root=self.data_dir / "datasets",
                         adapters_root=self.data_dir / "adapters", reports_root=self.data_dir / "reports",
                         golden_set=self.golden_set)
