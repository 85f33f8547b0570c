"""The training section of the configuration tree, generated from `training.config`'s dataclasses (entry-side).

Read once by the training entry point (`kbbot train …`, `python -m training`), never elsewhere. The
hyper-parameters of a dataset build, a run and the gate are *not* restated here: every field of
`DatasetConfig` and `TrainConfig` becomes a setting `TRAINING_<FIELD>`, every field of `GateConfig`
a setting `TRAINING_GATE_<FIELD>`, with the dataclass's default, type and docstring text (so the
README table shows them). A few are tied instead of settable: the gate's `min_per_class` is
`TRAINING_MIN_EVAL_PER_CLASS` (the split and the gate must agree), its `seed` is `TRAINING_SEED`,
its `max_length` follows the run's; the run's `length_quantile` and `max_length_cap` come from the
profile. Adding a field to a dataclass adds its setting.

TRAINING_PROFILE (auto, cpu, gpu; auto is gpu when CUDA is available) supplies the defaults of the
hyper-parameters that decide whether a run fits its hardware (`training.profiles`): a setting left
unset (None here) takes the profile's value, one set in the environment wins.

The base model is not a training setting: it is `store.config.ModelsSettings.base_model`
(`KB_BASE_MODEL`, formerly `TRAINING_BASE_MODEL` / `KB_MODEL_PATH`), shared with serving, so the bot
and the worker cannot disagree about it; `paths()` takes it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_type_hints

from pydantic import BeforeValidator, Field, create_model, model_validator

from store.config import Section, attribute_docs, setting
from training.config import DatasetConfig, GateConfig, LoopConfig, TrainConfig
from training.profiles import Profile, resolve_profile

if TYPE_CHECKING:
    from training.pipeline import LoopPaths

PROFILE_FIELDS = {"epochs", "batch_size", "gradient_accumulation_steps", "max_length", "max_train_tokens",
                  "precompute_ref_log_probs", "gradient_checkpointing", "gate_batch_size", "torch_threads",
                  "cpu_bf16", "gate_golden_generate_rows"}
"""Settings whose unset value (None) is filled from the training profile."""

_FROM_PROFILE = {"length_quantile", "max_length_cap"}
"""TrainConfig fields the profile decides alone."""

_GATE_TIED = {"min_per_class", "seed", "max_length"}
"""GateConfig fields derived from other settings (see the module docstring)."""


def _split_commas(value: object) -> object:
    """A comma-separated variable ("q_proj, v_proj") as the tuple a tuple field holds."""
    return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value


def _generated_fields() -> dict[str, Any]:
    """(type, FieldInfo) of each setting generated from a config dataclass, named as TrainingSettings names it."""
    kinds: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    texts: dict[str, list[str]] = {}
    for config, prefix, skipped in ((DatasetConfig, "", set()), (TrainConfig, "", _FROM_PROFILE),
                                    (GateConfig, "gate_", _GATE_TIED)):
        hints, docs = get_type_hints(config), attribute_docs(config)
        for field in dataclasses.fields(config):
            name = prefix + field.name
            if field.name in skipped:
                continue
            texts.setdefault(name, []).append(docs.get(field.name, ""))  # `seed`: the dataset's and the run's
            if name in kinds:
                continue
            kinds[name], defaults[name] = hints[field.name], field.default
    generated: dict[str, Any] = {}
    for name, kind in kinds.items():
        default, text = defaults[name], " Also: ".join(texts[name])
        if kind == tuple[str, ...]:
            kind = Annotated[kind, BeforeValidator(_split_commas)]
        if name in PROFILE_FIELDS:
            kind, default = kind | None, None
            text += " Unset: the profile's value (see `TRAINING_PROFILE`)."
        generated[name] = (kind, Field(default, validation_alias=f"TRAINING_{name.upper()}", description=text,
                                       json_schema_extra={"default_text": "profile"} if default is None else None))
    return generated


class _TrainingProcess(Section):
    """The settings of the training process that are not a config dataclass's fields."""

    heading: ClassVar[str] = "Training (worker and `kbbot train`)"

    profile: Literal["auto", "cpu", "gpu"] = setting(
        "auto", "TRAINING_PROFILE", help="`cpu`, `gpu`, or `auto` (gpu when CUDA is available): the defaults of every "
                                         "setting below marked *profile* that is left unset — see *Learning loop*")
    data_dir: Path = setting(Path("var/training"), "TRAINING_DATA_DIR",
                             help="datasets/, adapters/ and reports/ live under it")
    golden_set: Path | None = setting(None, "TRAINING_GOLDEN_SET",
                                      help="optional JSONL of {\"prompt\", \"completion\"} the gate also scores")
    poll_cron: str = setting("* * * * *", "TRAINING_POLL_CRON",
                             help="how often the worker looks for runs the bot queued and for dead workers' runs and "
                                  "jobs (a sixth field gives seconds); a queued run starts within one")
    launcher: Literal["inprocess", "accelerate"] = setting(
        "inprocess", "TRAINING_LAUNCHER", help="`inprocess`, or `accelerate` to train in `accelerate launch` "
                                               "subprocesses (`TRAINING_NUM_PROCESSES` of them; several GPUs → DDP)")
    num_processes: int = setting(1, "TRAINING_NUM_PROCESSES", help="processes `accelerate launch` starts")
    torch_threads: int | None = Field(None, validation_alias="TRAINING_TORCH_THREADS",
                                      description="CPU threads for torch (0: torch's default). Unset: the profile's "
                                                  "value (see `TRAINING_PROFILE`).",
                                      json_schema_extra={"default_text": "profile"})
    release_freed_memory: bool = setting(
        True, "TRAINING_RELEASE_FREED_MEMORY",
        help="fix glibc's mmap threshold at 2 MiB so training hands freed tensors back: peak RSS 3,547 vs "
             "4,265 MiB for +33% CPU time (bench/results/train_memory.json); false where memory is plentiful")
    heartbeat_s: float = setting(10.0, "TRAINING_HEARTBEAT_S",
                                 help="how often the worker says it is alive: on the running run (`/kb status` shows "
                                      "the age) and in procrastinate's worker table")
    stalled_after_s: float = setting(30.0, "TRAINING_STALLED_AFTER_S",
                                     help="a worker silent this long is dead: the poll fails its queue jobs (its run "
                                          "is failed at once: the run's advisory lock died with it)")

    @model_validator(mode="after")
    def _stalled_after_heartbeats(self) -> _TrainingProcess:
        if self.heartbeat_s <= 0:
            raise ValueError(f"TRAINING_HEARTBEAT_S must be positive, got {self.heartbeat_s}")
        if self.stalled_after_s < 2 * self.heartbeat_s:
            raise ValueError(f"TRAINING_STALLED_AFTER_S ({self.stalled_after_s}) must be at least twice "
                             f"TRAINING_HEARTBEAT_S ({self.heartbeat_s}), or live workers would look dead")
        return self


if TYPE_CHECKING:  # the generated fields are read by name (getattr); the type checker sees the hand-written ones
    _WithConfigFields = _TrainingProcess
else:
    _WithConfigFields = create_model("_WithConfigFields", __base__=_TrainingProcess, __module__=__name__,
                                     **_generated_fields())


class TrainingSettings(_WithConfigFields):
    """The learning loop's section: the process settings above, then one setting per config dataclass field."""

    def value(self, name: str) -> Any:
        """The setting `name`, hand-written or generated (the type checker sees only the hand-written ones)."""
        return getattr(self, name)

    def resolved(self, *, cuda_available: bool | None = None) -> TrainingSettings:
        """These settings with the profile named and its values filled in wherever the environment set none.

        `cuda_available` defaults to asking torch; tests pass it.
        """
        if cuda_available is None:
            import torch

            cuda_available = torch.cuda.is_available()
        chosen = resolve_profile(self.profile, cuda_available=cuda_available)
        # An explicit amount of training (epochs or steps) is what the operator asked for: no budget cuts it.
        amount_set = self.value("epochs") is not None or self.value("max_steps") > 0
        defaults = {"torch_threads": chosen.torch_threads, "epochs": chosen.epochs, "batch_size": chosen.batch_size,
                    "gradient_accumulation_steps": chosen.gradient_accumulation_steps, "max_length": 0,
                    "max_train_tokens": 0 if amount_set else chosen.max_train_tokens,
                    "precompute_ref_log_probs": chosen.precompute_ref_log_probs,
                    "gate_batch_size": chosen.gate_batch_size,
                    "gate_golden_generate_rows": chosen.golden_generate_rows,
                    "gradient_checkpointing": chosen.gradient_checkpointing, "cpu_bf16": chosen.cpu_bf16}
        assert set(defaults) == PROFILE_FIELDS, "every profile field needs the profile's value"
        return self.model_copy(update={"profile": chosen.name} |
                               {name: value for name, value in defaults.items() if self.value(name) is None})

    def training_profile(self, *, cuda_available: bool | None = None) -> Profile:
        """The profile these settings name ("auto" resolved)."""
        return resolve_profile(self.resolved(cuda_available=cuda_available).profile, cuda_available=False)

    def loop_config(self, *, cuda_available: bool | None = None) -> LoopConfig:
        """The validated configs, profile applied (raises ValueError naming a bad field)."""
        settings = self.resolved(cuda_available=cuda_available)
        return settings._configs(resolve_profile(settings.profile, cuda_available=False))

    def _configs(self, profile: Profile) -> LoopConfig:
        def values(config: type, prefix: str = "") -> dict[str, Any]:
            return {field.name: self.value(prefix + field.name) for field in dataclasses.fields(config)
                    if prefix + field.name in type(self).model_fields}

        dataset = DatasetConfig(**values(DatasetConfig))
        train = TrainConfig(**values(TrainConfig), length_quantile=profile.length_quantile,
                            max_length_cap=profile.max_length_cap)
        gate = GateConfig(**values(GateConfig, "gate_"), min_per_class=dataset.min_eval_per_class, seed=dataset.seed,
                          max_length=train.max_length or profile.max_length_cap)
        return LoopConfig(dataset=dataset, train=train, gate=gate)

    def paths(self, base_model: str | Path) -> LoopPaths:
        """Where the loop reads and writes; `base_model` is `ModelsSettings.base_model_path()`, shared with serving."""
        from training.pipeline import LoopPaths  # imports torch: not at settings time (`kbbot config`)

        return LoopPaths(base_model=Path(base_model), datasets_root=self.data_dir / "datasets",
                         adapters_root=self.data_dir / "adapters", reports_root=self.data_dir / "reports",
                         golden_set=self.golden_set)
