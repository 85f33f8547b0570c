"""Per-channel answering settings beside the experts: which documents a channel answers from, and
whether it answers questions nobody put to the bot.

`channel_settings` (migration 0009) already holds one row per channel with its experts; the other
per-channel settings admins choose (`/kb channel`) are columns of the same row, so a channel's
settings are read in one lookup and shown together:

* `sources_workspace`: whether questions asked there read workspace documents (default true); off
  ("channel-only") they read only the channel's own documents.
* `source_channels`: other private channels whose documents questions asked there also read; an
  admin granted each one, and the bot had checked it is a private channel it is a member of.
* `answer_unmentioned`: whether a question posted in the channel without mentioning the bot is
  answered in a thread (default false); abstentions there stay silent.

Revision ID: 0015
Revises: 0016
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0015'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('channel_settings', sa.Column('sources_workspace', sa.Boolean(), server_default='true',
                                                nullable=False))
    op.add_column('channel_settings', sa.Column('source_channels', postgresql.ARRAY(sa.String(length=64)),
                                                server_default='{}', nullable=False))
    op.add_column('channel_settings', sa.Column('answer_unmentioned', sa.Boolean(), server_default='false',
                                                nullable=False))


def downgrade() -> None:
    op.drop_column('channel_settings', 'answer_unmentioned')
    op.drop_column('channel_settings', 'source_channels')
    op.drop_column('channel_settings', 'sources_workspace')
