"""When Slack says a held reaction happened: `pending_reactions.event_ts`.

Slack's event handlers run on a thread pool, so a 👍 added and then removed a moment later can be
held in either order; replaying them by insertion order could turn a withdrawn vote into a vote.
Each held reaction keeps its event's `event_ts` and is replayed in that order
(`store.pending_reactions`). NULL for reactions held before; they replay after the timed ones, in
arrival order.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('pending_reactions', sa.Column('event_ts', sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column('pending_reactions', 'event_ts')
