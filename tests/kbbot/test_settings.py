"""The configuration tree: every earlier variable still works, one base model, errors that name the variable."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from kbbot.settings import Settings, sections
from knowledge.settings import ScheduleSettings
from store.config import ConfigError, DatabaseSettings, ModelsSettings, env_names, every_variable
from training.config import DatasetConfig, GateConfig, TrainConfig
from training.settings import PROFILE_FIELDS, TrainingSettings

EARLIER_VARIABLES = (
    "DATABASE_URL", "KB_ADAPTER_POLL_INTERVAL_S", "KB_ADMIN_CHANNEL", "KB_ADMIN_USER_IDS",
    "KB_ANSWER_MAX_NEW_TOKENS", "KB_ANSWER_MIN_COVERAGE", "KB_ANSWER_MIN_SCORE", "KB_ANSWER_PASSAGES",
    "KB_ANSWER_SUMMARY", "KB_ANSWER_TIMEOUT_S", "KB_ANSWER_UNKNOWN_SCORE", "KB_DB_POOL_SIZE",
    "KB_EMBEDDING_MODEL", "KB_FEEDBACK_STYLE", "KB_FETCH_TIMEOUT_S", "KB_GENERATOR_BACKEND",
    "KB_LISTENER_THREADS", "KB_MAX_CONCURRENT_GENERATIONS", "KB_MAX_DOCUMENT_BYTES", "KB_MAX_REQUEST_BYTES",
    "KB_MAX_WAITING_GENERATIONS", "KB_MODELS_DIR", "KB_MODEL_PATH", "KB_NO_REPEAT_NGRAM_SIZE",
    "KB_OPENAI_API_KEY", "KB_OPENAI_BASE_URL", "KB_OPENAI_MODEL", "KB_PG_DATA_DIR", "KB_REFRESH_CRON",
    "KB_REPETITION_PENALTY", "KB_REPORT_INTERVAL_S", "KB_SEARCH_MODE", "KB_SLACK_QUEUE", "KB_SLACK_WORKERS",
    "KB_STREAM_INTERVAL_S", "KB_STREAM_MODE", "KB_TORCH_THREADS", "KB_URL_ALLOWLIST", "SLACK_API_URL",
    "SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "TRAINING_ASKER_WEIGHT", "TRAINING_BASE_MODEL",
    "TRAINING_BATCH_SIZE", "TRAINING_BETA", "TRAINING_CRON", "TRAINING_DATA_DIR", "TRAINING_EPOCHS",
    "TRAINING_EVAL_FRACTION", "TRAINING_EXCLUDE_WITHOUT_PASSAGES", "TRAINING_GATE_BATCH_SIZE",
    "TRAINING_GATE_BOOTSTRAP_RESAMPLES", "TRAINING_GATE_CONFIDENCE", "TRAINING_GATE_GENERAL_TOLERANCE",
    "TRAINING_GATE_GOLDEN_F1_TOLERANCE", "TRAINING_GATE_GOLDEN_GENERATE_ROWS",
    "TRAINING_GATE_GOLDEN_MAX_NEW_TOKENS", "TRAINING_GATE_GOOD_TOLERANCE", "TRAINING_GATE_MIN_MARGIN_GAIN",
    "TRAINING_GOLDEN_SET", "TRAINING_GRADIENT_ACCUMULATION_STEPS", "TRAINING_GRADIENT_CHECKPOINTING",
    "TRAINING_HEARTBEAT_S", "TRAINING_INCLUDE_PRIVATE_SCOPES", "TRAINING_LAUNCHER", "TRAINING_LEARNING_RATE",
    "TRAINING_LORA_ALPHA", "TRAINING_LORA_DROPOUT", "TRAINING_LORA_R", "TRAINING_MAX_CHANNEL_SHARE",
    "TRAINING_MAX_LENGTH", "TRAINING_MAX_STEPS", "TRAINING_MAX_TRAIN_TOKENS", "TRAINING_MIN_DESIRABLE",
    "TRAINING_MIN_EVAL_EXAMPLES", "TRAINING_MIN_EVAL_PER_CLASS", "TRAINING_MIN_UNDESIRABLE",
    "TRAINING_NEAR_DUPLICATE_THRESHOLD", "TRAINING_NUM_PROCESSES", "TRAINING_OBJECTIVE",
    "TRAINING_ONE_CLASS_POLICY", "TRAINING_POLL_CRON", "TRAINING_PRECOMPUTE_REF_LOG_PROBS", "TRAINING_PROFILE",
    "TRAINING_PROGRESS_BAR", "TRAINING_SEED", "TRAINING_STALLED_AFTER_S", "TRAINING_TARGET_MODULES",
    "TRAINING_TORCH_THREADS",
)
"""Every variable the four settings classes read before the configuration tree (deployments set them)."""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No variable of the machine running the tests leaks into these settings."""
    for variable in every_variable(sections().values()):
        monkeypatch.delenv(variable, raising=False)
    yield


def test_every_earlier_variable_is_still_read() -> None:
    read = set(every_variable(sections().values()))
    assert len(EARLIER_VARIABLES) == 90
    assert not set(EARLIER_VARIABLES) - read


SHARED_VARIABLES = {"SLACK_BOT_TOKEN", "SLACK_API_URL"}
"""Read by the Slack section and by the `/kb learn` section: the training worker's channel re-sync needs the
Slack connection too, and may not import `bot.slack.settings`. Both definitions must agree (checked below)."""


def test_each_variable_belongs_to_one_setting_and_says_what_it_does() -> None:
    variables = every_variable(sections().values())
    repeated = {variable for variable in variables if variables.count(variable) > 1}
    assert repeated <= SHARED_VARIABLES, "a variable read by two settings would be two definitions"
    for variable in repeated:
        defaults = {field.default for section in sections().values() for field in section.model_fields.values()
                    if variable in env_names(field)}
        assert len(defaults) == 1, f"{variable} has two defaults: {defaults}"
    for name, section in sections().items():
        for field_name, field in section.model_fields.items():
            assert env_names(field), f"{name}.{field_name} has no variable"
            assert len((field.description or "").strip()) > 10, f"{name}.{field_name} has no description"


def test_every_variable_sets_its_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_DB_POOL_SIZE", "3")
    monkeypatch.setenv("KB_ANSWER_SUMMARY", "false")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("TRAINING_CRON", "30 4 * * 1")
    monkeypatch.setenv("TRAINING_GATE_CONFIDENCE", "0.9")
    settings = Settings()
    assert (settings.database.pool_size, settings.answering.summary, settings.slack.slack_bot_token) == (3, False,
                                                                                                       "xoxb-1")
    assert settings.schedule.training_cron == "30 4 * * 1"
    assert settings.training.loop_config(cuda_available=False).gate.confidence == 0.9


@pytest.mark.parametrize("variable", ["KB_BASE_MODEL", "KB_MODEL_PATH", "TRAINING_BASE_MODEL"])
def test_serving_and_training_read_one_base_model(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "/models/Qwen2.5-7B-Instruct")
    assert ModelsSettings().base_model_path() == "/models/Qwen2.5-7B-Instruct"
    assert TrainingSettings().paths(ModelsSettings().base_model_path()).base_model.name == "Qwen2.5-7B-Instruct"


def test_the_default_base_model_is_the_converted_one_under_the_models_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ModelsSettings().base_model_path() == "var/models/SmolLM2-135M-Instruct"
    monkeypatch.setenv("KB_MODELS_DIR", "/srv/models")
    assert ModelsSettings().base_model_path() == "/srv/models/SmolLM2-135M-Instruct"


def test_two_names_of_one_setting_that_disagree_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_MODEL_PATH", "/models/a")
    monkeypatch.setenv("TRAINING_BASE_MODEL", "/models/a")
    assert ModelsSettings().base_model == "/models/a", "the same value under two names is one setting"
    monkeypatch.setenv("TRAINING_BASE_MODEL", "/models/b")
    with pytest.raises(ConfigError, match="KB_MODEL_PATH='/models/a', TRAINING_BASE_MODEL='/models/b' name one "
                                          "setting .* set KB_BASE_MODEL alone"):
        ModelsSettings()


def test_a_bad_value_names_its_variable_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_DB_POOL_SIZE", "many")
    with pytest.raises(ConfigError, match=r"^bad DatabaseSettings settings: KB_DB_POOL_SIZE='many': .*integer"):
        DatabaseSettings()
    monkeypatch.delenv("KB_DB_POOL_SIZE")
    monkeypatch.setenv("KB_SEARCH_MODE", "semantic")
    with pytest.raises(ConfigError, match=r"KB_SEARCH_MODE='semantic': Input should be 'vector', 'fulltext' or "):
        Settings()


def test_a_variable_named_like_a_field_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("POOL_SIZE", "1")
    assert (DatabaseSettings().url, DatabaseSettings().pool_size) == ("", 16)


def test_arguments_win_over_the_environment_and_unknown_ones_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINING_CRON", "0 1 * * *")
    assert ScheduleSettings(training_cron="0 2 * * *").training_cron == "0 2 * * *"
    with pytest.raises(ConfigError, match="base_model='x': Extra inputs are not permitted"):
        TrainingSettings(base_model="x")


def test_training_settings_are_generated_from_the_config_dataclasses() -> None:
    fields = TrainingSettings.model_fields
    tied = {"gate_min_per_class", "gate_seed", "gate_max_length", "length_quantile", "max_length_cap"}
    for config, prefix in ((DatasetConfig, ""), (TrainConfig, ""), (GateConfig, "gate_")):
        for field in dataclasses.fields(config):
            name = prefix + field.name
            if name in tied:
                assert name not in fields
                continue
            assert env_names(fields[name]) == [f"TRAINING_{name.upper()}"]
            assert fields[name].default == (None if name in PROFILE_FIELDS else field.default), name
    assert "held-out" in (fields["min_eval_per_class"].description or ""), "descriptions come from the docstrings"


def test_generated_settings_reach_the_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINING_TARGET_MODULES", "q_proj, v_proj")
    monkeypatch.setenv("TRAINING_MIN_EVAL_PER_CLASS", "6")
    monkeypatch.setenv("TRAINING_SEED", "7")
    monkeypatch.setenv("TRAINING_GATE_GOLDEN_GENERATE_ROWS", "0")
    loop = TrainingSettings().loop_config(cuda_available=False)
    assert loop.train.target_modules == ("q_proj", "v_proj")
    assert loop.dataset.min_eval_per_class == loop.gate.min_per_class == 6, "the split and the gate agree"
    assert loop.dataset.seed == loop.train.seed == loop.gate.seed == 7
    assert loop.gate.golden_generate_rows == 0


def test_the_heartbeat_rule_names_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINING_HEARTBEAT_S", "20")
    with pytest.raises(ConfigError, match=r"TRAINING_STALLED_AFTER_S \(30.0\) must be at least twice "
                                          r"TRAINING_HEARTBEAT_S \(20.0\)"):
        TrainingSettings()


def test_answering_settings_default_to_what_the_answer_engine_defaults_to() -> None:
    """The answering section is declared by hand (generating it would import the answer engine, and with it
    scikit-learn, into every `kbbot --help`); this keeps each default equal to the engine's own."""
    from bot.abstention import AbstentionConfig
    from bot.answering import AnsweringConfig
    from bot.settings import AnsweringSettings

    settings, engine, abstention = AnsweringSettings.model_construct(), AnsweringConfig(), AbstentionConfig()
    assert (settings.passages, settings.max_new_tokens, settings.summary, settings.timeout_s,
            settings.unit_vector_cache) == (
        engine.passages, engine.max_new_tokens, engine.summarise, engine.timeout_s, engine.unit_vector_cache)
    assert (settings.min_score, settings.unknown_score, settings.min_coverage) == (
        abstention.min_score, abstention.unknown_score, abstention.min_coverage)
    assert (settings.rerank_depth, settings.rerank_unit_weight) == (engine.rerank.depth, engine.rerank.unit_weight)


def test_generation_settings_default_to_what_the_generator_defaults_to() -> None:
    """Declared by hand too (the generator imports torch): by default both read the prompt in one pass."""
    import inspect

    from bot.generation import TransformersGenerator
    from bot.settings import GenerationSettings

    assert GenerationSettings.model_construct().prefill_chunk_tokens == 0
    assert inspect.signature(TransformersGenerator).parameters["prefill_chunk_tokens"].default is None
