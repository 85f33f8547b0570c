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

from knowledge.database import make_engine, make_session_factory, start_embedded_server  # noqa: E402
from knowledge.embedding import SentenceTransformerEmbedder  # noqa: E402
from knowledge.migrate import upgrade  # noqa: E402

TABLES_TO_CLEAN = (
    "vote_events, votes, reference_answers, answers, training_runs, adapter_deployments, adapters, "
    "datasets, chunks, documents, slack_events"
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


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path
