"""Reactions on an answer's message that arrive before the answer is recorded.

The record and final blocks of an answer are written after its evidence is shown (after the summary,
or after the next questions' evidence under a burst), so a quick 👍 on the quoted evidence found no
answer for its message and was dropped. `pending_reactions` holds such reactions (added or removed, in
order) until the answer is linked to the message, when they become votes.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pending_reactions',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('message_ts', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('value', sa.SmallInteger(), nullable=False),
        sa.Column('added', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('value in (-1, 1)', name='ck_pending_reactions_value'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_pending_reactions_message', 'pending_reactions', ['channel', 'message_ts'])


def downgrade() -> None:
    op.drop_index('ix_pending_reactions_message', table_name='pending_reactions')
    op.drop_table('pending_reactions')
