"""Alembic migrations: upgrade from empty, downgrade to base and back, model matches DDL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from store.migrate import SchemaNotCurrent, check_schema_current, downgrade, upgrade
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
    assert "hnsw" in indexes["ix_chunks_embedding_hnsw"] and "halfvec_cosine_ops" in indexes["ix_chunks_embedding_hnsw"]
    assert "gin" in indexes["ix_chunks_tsv"]
    engine.dispose()


def test_models_match_migrated_schema(engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_a_process_on_an_unmigrated_or_older_database_is_told_to_run_the_migrations(postgres_server_url: str) -> None:
    """The entry points check the schema revision first, instead of failing at their first query with SQL."""
    url = _fresh_database(postgres_server_url, "migrations_schema_check")
    engine = create_engine(url)
    with pytest.raises(SchemaNotCurrent, match=r"has no schema yet: run `kbbot db migrate`"):
        check_schema_current(engine)
    upgrade(url, "0010")
    with pytest.raises(SchemaNotCurrent, match=r"is at revision 0010; this code needs .*: run `kbbot db migrate`"):
        check_schema_current(engine)
    upgrade(url)
    check_schema_current(engine)  # at head: no error
    with engine.begin() as connection:  # a database migrated by newer code
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaNotCurrent, match=r"newer than this code knows .*: deploy the newer code"):
        check_schema_current(engine)
    engine.dispose()


def test_the_cli_on_an_unmigrated_database_prints_one_line_naming_the_fix(postgres_server_url: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from knowledge.__main__ import cli

    url = _fresh_database(postgres_server_url, "migrations_cli_check")
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["stats"])
    assert result.exit_code == 1
    assert "has no schema yet: run `kbbot db migrate`" in result.output and "SELECT" not in result.output
