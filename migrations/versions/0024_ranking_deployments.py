"""Which ranking model serves: `ranking_deployments`, an append-only log that NOTIFYs on insert.

A ranking model tuned on the team's votes (`kbbot train ranking --deploy`, or the worker's periodic
`training.ranking`) is deployed by appending a row naming its folder; the serving processes LISTEN on
`ranking_model_changed` and switch without a restart (bot/ranking_follower.py). A row with a NULL
folder serves the model `KB_RANKING_MODEL` configures; with no row at all, that model serves too.

`process_heartbeats.ranking_model`: the ranking model each answering process really ranks with (its
stored vectors' name; NULL without one), so `/kb status` shows whether every process switched.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

RANKING_CHANGED_CHANNEL = "ranking_model_changed"


def upgrade() -> None:
    op.create_table(
        'ranking_deployments',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('folder', sa.Text(), nullable=True),
        sa.Column('name', sa.Text(), nullable=True),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('metrics', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.execute(
        f"""
        CREATE FUNCTION notify_ranking_model_changed() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('{RANKING_CHANGED_CHANNEL}', NEW.id::text);
            RETURN NEW;
        END $$ LANGUAGE plpgsql
        """
    )
    op.execute("CREATE TRIGGER ranking_deployments_notify AFTER INSERT ON ranking_deployments "
               "FOR EACH ROW EXECUTE FUNCTION notify_ranking_model_changed()")
    op.add_column('process_heartbeats', sa.Column('ranking_model', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('process_heartbeats', 'ranking_model')
    op.execute("DROP TRIGGER IF EXISTS ranking_deployments_notify ON ranking_deployments")
    op.execute("DROP FUNCTION IF EXISTS notify_ranking_model_changed()")
    op.drop_table('ranking_deployments')
