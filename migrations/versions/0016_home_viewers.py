"""Who opened the App Home tab, and which finished runs have refreshed the admins' tabs.

* `home_viewers`: one row per user who opened the Home tab, with when they last did. Any process
  (several gunicorn workers, the Socket Mode process) can then re-publish the admins' tabs after a
  run, not only the process whose memory saw them open it.
* `training_runs.home_refreshed_at`: set by the one process that claims a finished run for the
  Home refresh (an UPDATE only one process wins), so each outcome refreshes the tabs once, whether
  or not anyone asked for a report. Runs already finished are marked, so the upgrade sends nothing.

Revision ID: 0016
Revises: 0013
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'home_viewers',
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('user_id'),
    )
    op.add_column('training_runs', sa.Column('home_refreshed_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE training_runs SET home_refreshed_at = now() WHERE finished_at IS NOT NULL")


def downgrade() -> None:
    op.drop_column('training_runs', 'home_refreshed_at')
    op.drop_table('home_viewers')
