"""Learning from Slack channels: learned channels, their threads, forgotten people, the learn policy.

* `learned_channels`: channels configured with `/kb learn`, their scope, trusted people, how far
  back to learn, the backfill's resume point and the last sync's outcome;
* `learned_threads`: one row per thread of a learned channel, pointing at the document built from it
  (NULL while there is nothing to index), with the messages and authors it holds and what
  `conversations.history` last said about its replies; `dirty_at` marks threads events changed;
* `forgotten_slack_users`: people who asked `/kb forget-me`; their messages are never learned;
* `learn_policy`: one row saying whether channel members (not only admins) may run `/kb learn`.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'learned_channels',
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('name', sa.Text(), server_default='', nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('scope', sa.String(length=64), nullable=False),
        sa.Column('trusted_users', postgresql.ARRAY(sa.String(length=64)), server_default='{}', nullable=False),
        sa.Column('trusted_groups', postgresql.ARRAY(sa.String(length=64)), server_default='{}', nullable=False),
        sa.Column('oldest_ts', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
        sa.Column('added_by', sa.String(length=64), nullable=True),
        sa.Column('resume_ts', sa.String(length=32), nullable=True),
        sa.Column('backfill_done', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('error_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("status in ('active', 'stopped', 'left', 'deleted')", name='ck_learned_channels_status'),
        sa.PrimaryKeyConstraint('channel'),
    )
    op.create_table(
        'learned_threads',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('thread_ts', sa.String(length=32), nullable=False),
        sa.Column('document_id', sa.BigInteger(), nullable=True),
        sa.Column('uri', sa.Text(), nullable=True),
        sa.Column('title', sa.Text(), server_default='', nullable=False),
        sa.Column('message_ts', postgresql.ARRAY(sa.String(length=32)), server_default='{}', nullable=False),
        sa.Column('authors', postgresql.ARRAY(sa.String(length=64)), server_default='{}', nullable=False),
        sa.Column('reply_count', sa.Integer(), server_default='0', nullable=False),
        sa.Column('latest_reply', sa.String(length=32), nullable=True),
        sa.Column('confirmed', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('dirty_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('synced_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['channel'], ['learned_channels.channel'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('channel', 'thread_ts', name='uq_learned_threads_channel_thread'),
    )
    op.create_index('ix_learned_threads_document_id', 'learned_threads', ['document_id'])
    op.create_index('ix_learned_threads_dirty', 'learned_threads', ['dirty_at'],
                    postgresql_where=sa.text('dirty_at IS NOT NULL'))
    op.create_table(
        'forgotten_slack_users',
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('user_id'),
    )
    op.create_table(
        'learn_policy',
        sa.Column('id', sa.SmallInteger(), nullable=False),
        sa.Column('members_may_learn', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('id = 1', name='ck_learn_policy_single_row'),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('learn_policy')
    op.drop_table('forgotten_slack_users')
    op.drop_index('ix_learned_threads_dirty', table_name='learned_threads',
                  postgresql_where=sa.text('dirty_at IS NOT NULL'))
    op.drop_index('ix_learned_threads_document_id', table_name='learned_threads')
    op.drop_table('learned_threads')
    op.drop_table('learned_channels')
