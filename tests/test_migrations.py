"""Alembic migrations: upgrade from empty, downgrade to base and back, model matches DDL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from store.migrate import downgrade, upgrade
from store.schema import Base


def _fresh_database(server_url: str, name: str) -> str:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base, _, query = server_url.partition("?")
    return base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")


def test_upgrade_downgrade_upgrade_round_trip(postgres_server_url: str) -> None:
    url = _fresh_database(postgres_server_url, "migrations_round_trip")
    engine = create_engine(url)
    upgrade(url)
    assert {"documents", "chunks", "answers", "votes", "adapters"} <= set(inspect(engine).get_table_names())
    downgrade(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    upgrade(url)
    with engine.connect() as connection:
        indexes = {row[0]: row[1] for row in connection.execute(
            text("select indexname, indexdef from pg_indexes where tablename = 'chunks'"))}
    assert "hnsw" in indexes["ix_chunks_embedding_hnsw"] and "vector_cosine_ops" in indexes["ix_chunks_embedding_hnsw"]
    assert "gin" in indexes["ix_chunks_tsv"]
    engine.dispose()


def test_models_match_migrated_schema(engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
