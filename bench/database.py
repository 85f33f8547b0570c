"""A throw-away migrated database for a benchmark run (orch): embedded Postgres in a temp dir."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
