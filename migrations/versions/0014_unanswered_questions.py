"""Questions the bot could not answer at all: busy (every answering slot taken) or failed (an error).

* `unanswered_questions`: when, in which channel, from whom, the outcome ('busy' | 'failed') and a
  one-line reason. Answered and abstained questions are `answers` rows; these never were, so the
  App Home's outcome figures (answered / abstained / busy / failed) need their own record.

Revision ID: 0014
Revises: 0012
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'unanswered_questions',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=True),
        sa.Column('asker', sa.String(length=64), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False, server_default=''),
        sa.CheckConstraint("outcome IN ('busy', 'failed')", name='ck_unanswered_questions_outcome'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_unanswered_questions_created_at', 'unanswered_questions', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_unanswered_questions_created_at', table_name='unanswered_questions')
    op.drop_table('unanswered_questions')
