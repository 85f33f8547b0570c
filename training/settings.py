"""Environment of training processes (entry): read once in `training/__main__.py`, never elsewhere.

Every variable is prefixed TRAINING_ except the shared DATABASE_URL and KB_PG_DATA_DIR. The
settings only turn into the frozen configs of `training.config` and the paths of the pipeline.
TRAINING_PROFILE (auto, cpu, gpu; auto is gpu when CUDA is available) supplies the defaults of the
hyper-parameters that decide whether a run fits its hardware (`training.profiles`); a setting left
unset (None here) takes the profile's value, one set in the environment wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from knowledge.schedule import DEFAULT_TRAINING_CRON
from training.config import DatasetConfig, GateConfig, LoopConfig, TrainConfig
from training.pipeline import LoopPaths
from training.profiles import Profile, resolve_profile


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
        profile: TRAINING_PROFILE, "auto", "cpu" or "gpu": defaults of epochs, batch size, gradient
            accumulation, max_length (0: from the data), the CPU token budget, reference log-prob
            precomputation, the gate's batch and torch threads, for whichever is unset.
        torch_threads: TRAINING_TORCH_THREADS, CPU threads for torch (0 leaves torch's default).
        max_train_tokens: TRAINING_MAX_TRAIN_TOKENS, tokens per epoch a run trains on (0: all rows); the
            CPU profile's budget applies only when neither TRAINING_EPOCHS nor TRAINING_MAX_STEPS is set.
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
    cron: str = DEFAULT_TRAINING_CRON
    poll_cron: str = "* * * * *"
    launcher: Literal["inprocess", "accelerate"] = "inprocess"
    num_processes: int = 1
    profile: Literal["auto", "cpu", "gpu"] = "auto"
    torch_threads: int | None = None
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
    epochs: float | None = None
    max_steps: int = 0
    batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    beta: float = 0.1
    max_length: int | None = None
    max_train_tokens: int | None = None
    precompute_ref_log_probs: bool | None = None
    seed: int = 0
    gradient_checkpointing: bool | None = None
    progress_bar: bool = True

    gate_min_margin_gain: float = 0.01
    gate_bootstrap_resamples: int = 1000
    gate_confidence: float = 0.95
    gate_good_tolerance: float = 0.05
    gate_golden_generate_rows: int = 8
    gate_golden_max_new_tokens: int = 64
    gate_golden_f1_tolerance: float = 0.05
    gate_general_tolerance: float = 0.05
    gate_batch_size: int | None = None

    @model_validator(mode="after")
    def _stalled_after_heartbeats(self) -> TrainingSettings:
        if self.stalled_after_s < 2 * self.heartbeat_s:
            raise ValueError(f"TRAINING_STALLED_AFTER_S ({self.stalled_after_s}) must be at least twice "
                             f"TRAINING_HEARTBEAT_S ({self.heartbeat_s}), or live workers would look dead")
        return self

    def resolved(self, *, cuda_available: bool | None = None) -> TrainingSettings:
        """These settings with the profile named and its values filled in wherever the environment set none.

        `cuda_available` defaults to asking torch; tests pass it.
        """
        if cuda_available is None:
            import torch

            cuda_available = torch.cuda.is_available()
        chosen = resolve_profile(self.profile, cuda_available=cuda_available)
        # An explicit amount of training (epochs or steps) is what the operator asked for: no budget cuts it.
        amount_set = self.epochs is not None or self.max_steps > 0
        defaults = {"torch_threads": chosen.torch_threads, "epochs": chosen.epochs, "batch_size": chosen.batch_size,
                    "gradient_accumulation_steps": chosen.gradient_accumulation_steps, "max_length": 0,
                    "max_train_tokens": 0 if amount_set else chosen.max_train_tokens,
                    "precompute_ref_log_probs": chosen.precompute_ref_log_probs,
                    "gate_batch_size": chosen.gate_batch_size,
                    "gradient_checkpointing": chosen.gradient_checkpointing}
        return self.model_copy(update={"profile": chosen.name} |
                               {name: value for name, value in defaults.items() if getattr(self, name) is None})

    def training_profile(self, *, cuda_available: bool | None = None) -> Profile:
        """The profile these settings name ("auto" resolved)."""
        return resolve_profile(self.resolved(cuda_available=cuda_available).profile, cuda_available=False)

    def loop_config(self, *, cuda_available: bool | None = None) -> LoopConfig:
        """The validated configs, profile applied (raises ValueError naming a bad field)."""
        settings = self.resolved(cuda_available=cuda_available)
        return settings._configs(resolve_profile(settings.profile, cuda_available=False))

    def _configs(self, profile: Profile) -> LoopConfig:
        # resolved() filled every profile field; the asserts tell the type checker so.
        assert self.epochs is not None and self.batch_size is not None and self.max_length is not None
        assert self.gradient_accumulation_steps is not None and self.gate_batch_size is not None
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
            beta=self.beta, max_length=self.max_length, length_quantile=profile.length_quantile,
            max_length_cap=profile.max_length_cap, max_train_tokens=self.max_train_tokens or 0,
            precompute_ref_log_probs=bool(self.precompute_ref_log_probs), seed=self.seed,
            gradient_checkpointing=bool(self.gradient_checkpointing), progress_bar=self.progress_bar)
        gate = GateConfig(min_per_class=self.min_eval_per_class, min_margin_gain=self.gate_min_margin_gain,
                          bootstrap_resamples=self.gate_bootstrap_resamples, confidence=self.gate_confidence,
                          seed=self.seed, good_tolerance=self.gate_good_tolerance,
                          golden_generate_rows=self.gate_golden_generate_rows,
                          golden_max_new_tokens=self.gate_golden_max_new_tokens,
                          golden_f1_tolerance=self.gate_golden_f1_tolerance,
                          general_tolerance=self.gate_general_tolerance,
                          max_length=self.max_length or profile.max_length_cap,
                          batch_size=self.gate_batch_size)
        return LoopConfig(dataset=dataset, train=train, gate=gate)

    def paths(self) -> LoopPaths:
        return LoopPaths(base_model=self.base_model, datasets_root=self.data_dir / "datasets",
                         adapters_root=self.data_dir / "adapters", reports_root=self.data_dir / "reports",
                         golden_set=self.golden_set)
