"""Apply or revert the Alembic migrations programmatically (orch).

The schema only ever changes through `migrations/`; this is the one way code (CLI, tests, the
`release:` Procfile line) runs them.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from store.database import DatabaseUnavailable

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class SchemaNotCurrent(DatabaseUnavailable):
    """Raised when the database's schema is not the one this code was written for; the message says what to run."""


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and at `database_url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates '%'; URLs may carry percent-encoded socket paths.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database at `database_url` up to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Migrate the database at `database_url` down to `revision`."""
    command.downgrade(alembic_config(database_url), revision)


def check_schema_current(engine: Engine) -> None:
    """Raise SchemaNotCurrent unless the database is migrated to exactly this code's head revision(s).

    Without this, a process on an unmigrated (or older) database fails at its first query with a
    driver error and the SQL; an operator needs to read "run `kbbot db migrate`" instead.
    """
    where = engine.url.render_as_string()
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    heads = set(scripts.get_heads())
    if current == heads:
        return
    if not current:
        raise SchemaNotCurrent(f"the database at {where} has no schema yet: run `kbbot db migrate`")
    known = {revision.revision for revision in scripts.walk_revisions()}
    if current - known:
        raise SchemaNotCurrent(f"the database at {where} is at revision {', '.join(sorted(current))}, newer than "
                               f"this code knows ({', '.join(sorted(heads))}): deploy the newer code")
    raise SchemaNotCurrent(f"the database at {where} is at revision {', '.join(sorted(current))}; this code needs "
                           f"{', '.join(sorted(heads))}: run `kbbot db migrate`")
