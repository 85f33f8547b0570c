"""Each web, socket and worker process keeps a heartbeat row saying what it really serves.

* `process_heartbeats`: kind ('web' | 'socket' | 'worker'), host and pid, the adapter the process
  actually serves (id, name and the registry's sha256 of its files; NULL for the base model), the
  base model or served model name, when it started and when it last wrote. `/kb status` lists the
  rows written lately; a process that stopped writing is dead and its row is ignored, then purged.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'process_heartbeats',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('adapter_id', sa.BigInteger(), nullable=True),
        sa.Column('adapter_name', sa.String(length=128), nullable=True),
        sa.Column('adapter_sha256', sa.String(length=64), nullable=True),
        sa.Column('model', sa.Text(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("kind IN ('web', 'socket', 'worker')", name='ck_process_heartbeats_kind'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_process_heartbeats_last_seen', 'process_heartbeats', ['last_seen'])


def downgrade() -> None:
    op.drop_index('ix_process_heartbeats_last_seen', table_name='process_heartbeats')
    op.drop_table('process_heartbeats')
