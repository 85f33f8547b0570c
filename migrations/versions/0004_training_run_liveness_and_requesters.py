"""Training runs say whether their worker is alive, how far they got, and everyone who asked.

* `heartbeat_at`: the owning worker refreshes it every few seconds while the run executes, so
  `/kb status` can tell a live run from one whose worker died (its age grows).
* `progress`: phase, step / max steps, last loss and ETA, written as training logs each step.
* `notify_channels`: every channel that asked for the run (the first `/kb retrain`, and any later
  one that joined the queued or running run); the outcome is posted to each of them.
* `requesters`: every user who asked, in order.

Existing rows: a run's one `notify_channel` becomes its `notify_channels`, and finished runs that
were never announced (scheduled runs had nowhere to go) are marked reported, so configuring an
admin channel does not post a backlog of old outcomes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('training_runs', sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('training_runs', sa.Column('progress', postgresql.JSONB(astext_type=sa.Text()),
                                             server_default='{}', nullable=False))
    op.add_column('training_runs', sa.Column('notify_channels', postgresql.ARRAY(sa.String(length=64)),
                                             server_default='{}', nullable=False))
    op.add_column('training_runs', sa.Column('requesters', postgresql.ARRAY(sa.String(length=64)),
                                             server_default='{}', nullable=False))
    op.execute("UPDATE training_runs SET notify_channels = ARRAY[notify_channel] WHERE notify_channel IS NOT NULL")
    op.execute("UPDATE training_runs SET requesters = ARRAY[requested_by] WHERE requested_by IS NOT NULL")
    op.execute("UPDATE training_runs SET reported_at = now() "
               "WHERE reported_at IS NULL AND status IN ('succeeded', 'rejected', 'skipped', 'failed')")


def downgrade() -> None:
    for column in ('requesters', 'notify_channels', 'progress', 'heartbeat_at'):
        op.drop_column('training_runs', column)
