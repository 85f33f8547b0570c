"""Training runs remember where their report was posted in Slack.

The admin channel gets each run's report with its charts uploaded as images; the bot records that
message (channel, ts) and the uploaded chart files here so the admins' Home tab can link to the
report and show its loss chart. Empty until a report is posted.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('training_runs', sa.Column('report_post', postgresql.JSONB(astext_type=sa.Text()),
                                             server_default='{}', nullable=False))


def downgrade() -> None:
    op.drop_column('training_runs', 'report_post')
