"""Throw-away migrated benchmark databases (orch): embedded Postgres in a temp dir, empty or holding docs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from store.database import make_engine, make_session_factory, start_embedded_server
from store.migrate import upgrade


def bench_database(name: str) -> tuple[Engine, sessionmaker[Session], str]:
    """Engine, sessions and URL of a fresh migrated database (BENCH_DATABASE_URL overrides)."""
    url = os.environ.get("BENCH_DATABASE_URL") or start_embedded_server(
        Path(tempfile.mkdtemp(prefix=f"bench-{name}-")))
    upgrade(url)
    engine = make_engine(url)
    return engine, make_session_factory(engine), url


def docs_knowledge_base(name: str, docs: Path, *, max_bytes: int = 1_000_000
                        ) -> tuple[sessionmaker[Session], Any, str, Any]:
    """A fresh bench database holding the folder `docs` as `kbbot kb add <folder>` would add it, embedded by the
    backend the product picks here: its sessions, the embedder, the backend's name and the ingest report."""
    from knowledge.embedding import make_embedder, resolve_backend
    from knowledge.ingest import ingest_path
    from knowledge.settings import KnowledgeSettings

    _, sessions, _ = bench_database(name)
    backend = resolve_backend(KnowledgeSettings().embedding_backend)
    embedder = make_embedder(backend)
    return sessions, embedder, backend, ingest_path(sessions, embedder, docs, max_bytes=max_bytes)
