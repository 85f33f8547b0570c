"""Answers keep what was published apart from what the model wrote, and where they were asked.

* `published_text`: exactly what the user was shown (quoted evidence, then the supported summary);
  training learns from this, never from a raw completion nobody saw. NULL on rows written before
  this revision, where `completion` was what was shown.
* `summary_text`: the generated sentences that passed the support check (empty when none did).
* `evidence`: the quoted passage sentences, each with its passage number.
* `support`: one verdict per generated sentence or code line (text, supported, reasons, scores).
* `abstain_reason`: why the bot declined (no_passages, low_score, not_covered), NULL when it answered.
* `relevance`: the figures the abstention decision read (top similarity, key-term coverage, missing terms).
* `conversation_kind`: public, private, im or mpim (from `conversations.info`), NULL outside Slack.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('answers', sa.Column('published_text', sa.Text(), nullable=True))
    op.add_column('answers', sa.Column('summary_text', sa.Text(), server_default='', nullable=False))
    op.add_column('answers', sa.Column('evidence', postgresql.JSONB(astext_type=sa.Text()), server_default='[]',
                                       nullable=False))
    op.add_column('answers', sa.Column('support', postgresql.JSONB(astext_type=sa.Text()), server_default='[]',
                                       nullable=False))
    op.add_column('answers', sa.Column('abstain_reason', sa.String(length=32), nullable=True))
    op.add_column('answers', sa.Column('relevance', postgresql.JSONB(astext_type=sa.Text()), server_default='{}',
                                       nullable=False))
    op.add_column('answers', sa.Column('conversation_kind', sa.String(length=16), nullable=True))


def downgrade() -> None:
    for column in ('conversation_kind', 'relevance', 'abstain_reason', 'support', 'evidence', 'summary_text', 'published_text'):
        op.drop_column('answers', column)
