"""Indexes for the App Home's aggregates over answers.

Measured with bench/app_home.py (100k answers, 10k votes): answer outcomes of the last 30 days
read 16k of 100k rows through a sequential scan; a covering index on `created_at` makes it an
index-only range scan. Feedback per channel joins every vote to its answer's channel; a covering
index on `(id) INCLUDE (channel)` lets the join read the index instead of the wide answer rows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_answers_created_at', 'answers', ['created_at'],
                    postgresql_include=['abstained', 'latency_ms'])
    op.create_index('ix_answers_id_channel', 'answers', ['id'], postgresql_include=['channel'])


def downgrade() -> None:
    op.drop_index('ix_answers_id_channel', table_name='answers')
    op.drop_index('ix_answers_created_at', table_name='answers')
