"""Per-channel experts and escalated threads ("Ask a teammate").

* `channel_settings`: per channel, the experts tagged when someone asks a teammate (user ids and
  user group ids), set by admins with `/kb experts`.
* `escalations`: a thread where someone asked a teammate; open until a teammate's reply there is
  confirmed as the verified answer. At most one open escalation per thread.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'channel_settings',
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('experts', postgresql.ARRAY(sa.String(length=64)), server_default='{}', nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('channel'),
    )
    op.create_table(
        'escalations',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('answer_id', sa.BigInteger(), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('thread_ts', sa.String(length=32), nullable=False),
        sa.Column('asker', sa.String(length=64), nullable=True),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('experts', postgresql.ARRAY(sa.String(length=64)), server_default='{}', nullable=False),
        sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
        sa.Column('verified_answer_id', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status in ('open', 'resolved')", name='ck_escalations_status'),
        sa.ForeignKeyConstraint(['answer_id'], ['answers.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['verified_answer_id'], ['verified_answers.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('uq_escalations_one_open_per_thread', 'escalations', ['channel', 'thread_ts'], unique=True,
                    postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    op.drop_index('uq_escalations_one_open_per_thread', table_name='escalations',
                  postgresql_where=sa.text("status = 'open'"))
    op.drop_table('escalations')
    op.drop_table('channel_settings')
