"""Procrastinate's job queue tables, in their own `procrastinate` Postgres schema.

The training worker schedules retraining with procrastinate (periodic cron task, queueing lock).
Its schema SQL ships inside the installed package and is applied as-is, but into a separate
Postgres schema so the product's own tables (`public`, owned by store.schema) stay exactly
what the ORM declares. training.jobs connects with `search_path=procrastinate`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op
from procrastinate.schema import SchemaManager

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

SCHEMA = "procrastinate"


def upgrade() -> None:
    connection = op.get_bind()
    previous = connection.exec_driver_sql("SELECT current_setting('search_path')").scalar()
    connection.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
    connection.exec_driver_sql(f"SELECT set_config('search_path', '{SCHEMA}', true)")
    # psycopg reads '%' as a placeholder marker once parameters are involved; the schema has a few in RAISE.
    connection.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))
    # Back to the caller's path, or Alembic would look for its version table in the new schema.
    connection.exec_driver_sql("SELECT set_config('search_path', %(path)s, true)", {"path": previous})


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
