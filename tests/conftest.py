"""Shared fixtures: offline environment, the embedded Postgres with migrations applied, the real embedder."""

from __future__ import annotations

import os

# Before anything imports transformers: no hub, no proxies (the Slack SDK ignores NO_PROXY).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_proxy, None)

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from bot.generation import TransformersGenerator  # noqa: E402
from bot.model_setup import ensure_default_model  # noqa: E402
from knowledge.embedding import SentenceTransformerEmbedder  # noqa: E402
from knowledge.passage_ranking import PassageRanker  # noqa: E402
from store.database import make_engine, make_session_factory, start_embedded_server  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from tests.tiny_models import build_tiny_causal_lm, build_tiny_lora_adapter  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]

TABLES_TO_CLEAN = (
    "vote_events, votes, reference_answers, answers, training_runs, adapter_deployments, adapters, "
    "datasets, chunks, documents, slack_events, verified_answer_revisions, verified_answers, escalations, "
    "channel_settings, document_notices, process_heartbeats, unanswered_questions, unit_vectors, ranking_vectors, "
    "ranking_deployments"
)


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a real Postgres: TEST_DATABASE_URL when set, else a fresh embedded server."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return configured
    return start_embedded_server(tmp_path_factory.mktemp("pgdata"))


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> str:
    """The test database, migrated to head once per run."""
    upgrade(postgres_server_url)
    return postgres_server_url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory on a database emptied before each test (code under test commits for real)."""
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLES_TO_CLEAN} RESTART IDENTITY CASCADE"))
    yield make_session_factory(engine)


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real bundled all-MiniLM-L6-v2."""
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def ranker() -> PassageRanker:
    """The real bundled ranking model, all-mpnet-base-v2, as the product loads it (`make test` runs
    `kbbot setup-model` first, which assembles it and exports its question side to ONNX)."""
    from knowledge.ranking_model import ensure_ranking_model, load_ranker

    ensure_ranking_model(REPO_ROOT / "var" / "models")
    ranker = load_ranker("", REPO_ROOT / "var" / "models")
    assert ranker is not None
    return ranker


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with a word-level tokenizer and a ChatML template."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="session")
def adapter_a_dir(tiny_lm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lora_adapter(tiny_lm_dir, tmp_path_factory.mktemp("adapter-a"), seed=1)


@pytest.fixture(scope="session")
def adapter_b_dir(tiny_lm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lora_adapter(tiny_lm_dir, tmp_path_factory.mktemp("adapter-b"), seed=2)


@pytest.fixture(scope="session")
def corrupt_adapter_dir(adapter_a_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real adapter config next to weights that are not a safetensors file."""
    out = tmp_path_factory.mktemp("adapter-corrupt")
    (out / "adapter_config.json").write_text((adapter_a_dir / "adapter_config.json").read_text())
    (out / "adapter_model.safetensors").write_bytes(b"\x00garbage, as left by a disk that filled up")
    return out


@pytest.fixture
def tiny_generator(tiny_lm_dir: Path) -> TransformersGenerator:
    """A fresh generator per test: adapters are process state."""
    return TransformersGenerator(tiny_lm_dir, device="cpu")


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The converted SmolLM2 under var/models (`make test` runs setup-model first, so this is fast)."""
    return ensure_default_model(REPO_ROOT / "var" / "models")


@pytest.fixture(scope="session")
def default_generator(default_model_dir: Path) -> TransformersGenerator:
    """The real default model, loaded once (~1–3 s)."""
    return TransformersGenerator(default_model_dir)


@pytest.fixture(autouse=True)
def _no_log_ids_from_earlier_tests() -> Iterator[None]:
    """Every test starts with no log ids bound in its thread.

    Tests share pytest's thread, and a test that runs product code directly in it (a claim, an
    answer) binds ids there the way a worker thread's job would; the next test must not log them.
    """
    from store.log_context import ID_FIELDS, bind_ids

    bind_ids(**dict.fromkeys(ID_FIELDS))
    yield
