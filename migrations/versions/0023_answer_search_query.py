"""What each answer searched with: `answers.search_query`.

An answer searches (and the ranking model ranks its passages) with the question plus, for a follow-up
in a thread, the previous user turn (`bot.answering.Answerer.search_query`); `answers.question` keeps
only the turn asked. Tuning the ranking model on 👍 votes (`kbbot train ranking`) trains on what was
ranked, so each answer keeps it. NULL for answers stored before; tuning reads their question.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('answers', sa.Column('search_query', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('answers', 'search_query')
