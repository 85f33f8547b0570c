"""Environment of answering processes (entry): read once by an entry point, never by components."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL_DIR = Path("var/models/SmolLM2-135M-Instruct")


class BotSettings(BaseSettings):
    """Database, embedder, generator and answering tunables.

    Attributes:
        database_url: DATABASE_URL; empty means the embedded Postgres under `pg_data_dir`.
        pg_data_dir: KB_PG_DATA_DIR.
        embedding_model: KB_EMBEDDING_MODEL; empty means the bundled all-MiniLM-L6-v2.
        generator_backend: KB_GENERATOR_BACKEND, "transformers" (in process) or "openai" (a vLLM or
            other OpenAI-compatible server; each adapter version is served under its own model name).
        model_path: KB_MODEL_PATH, HF id or local folder of the base causal LM; empty means the
            converted SmolLM2-135M-Instruct that `make setup` writes under var/models.
        openai_base_url / openai_model / openai_api_key: KB_OPENAI_*, for the "openai" backend.
        max_concurrent_generations / max_waiting_generations: the generation admission gate.
        adapter_poll_interval_s: how often the adapter follower re-reads the registry besides LISTEN.
        db_pool_size: KB_DB_POOL_SIZE, connections kept per process: a Slack web worker runs request,
            listener and background threads that each may hold one.
        torch_threads: KB_TORCH_THREADS, CPU threads for generation (0: torch's default). The
            135M default model measured 12.0 tokens/s on 1 thread vs 9.6 on 2 (bench/answer_latency.py):
            for so small a model thread synchronisation costs more than it gains; raise it for big CPU models.
        repetition_penalty / no_repeat_ngram_size: KB_REPETITION_PENALTY, KB_NO_REPEAT_NGRAM_SIZE, applied
            to generated tokens only (bot/repetition.py), so passages stay free to copy.
        answer_min_score: KB_ANSWER_MIN_SCORE, least cosine similarity of the best passage (abstention).
        answer_unknown_score: KB_ANSWER_UNKNOWN_SCORE, least similarity when the question names
            something no document mentions.
        answer_min_coverage: KB_ANSWER_MIN_COVERAGE, least share of key terms in the top passages (0: off).
        answer_max_new_tokens: KB_ANSWER_MAX_NEW_TOKENS, longest generated summary.
        answer_summary: KB_ANSWER_SUMMARY, false answers with the quoted evidence alone (no model call).
        Defaults were chosen with bench/quality.py (see README, "Answer quality").
    """

    model_config = SettingsConfigDict(env_prefix="KB_", frozen=True, extra="ignore")

    database_url: str = Field(default="", validation_alias="DATABASE_URL")
    pg_data_dir: Path = Path("var/pgdata")
    embedding_model: str = ""
    generator_backend: Literal["transformers", "openai"] = "transformers"
    model_path: str = ""
    models_dir: Path = Path("var/models")
    openai_base_url: str = ""
    openai_model: str = ""
    openai_api_key: str = ""
    max_concurrent_generations: int = 1
    max_waiting_generations: int = 8
    adapter_poll_interval_s: float = 5.0
    torch_threads: int = 1
    repetition_penalty: float = 1.15
    db_pool_size: int = 16
    no_repeat_ngram_size: int = 4
    answer_passages: int = 5
    answer_min_score: float = 0.32
    answer_unknown_score: float = 0.53
    answer_min_coverage: float = 0.0
    answer_max_new_tokens: int = 128
    answer_summary: bool = True
    answer_timeout_s: float = 120.0
    search_mode: Literal["vector", "fulltext", "hybrid"] = "vector"
