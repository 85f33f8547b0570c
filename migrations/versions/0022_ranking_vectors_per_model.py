"""Ranking vectors per (chunk, model): a tuned ranking model's vectors live beside the serving one's.

`kbbot train ranking` keeps a tuned ranking model as a new folder, whose name is the `model` its
vectors are stored under. With one row per chunk, computing its vectors (`--rank`, or `kbbot kb rank`
before the switch) replaced the serving model's, and processes still serving it rewrote them back.
The key is now (chunk_id, model): each model's rows stand on their own, the answers and the ranking
search read their own model's (they always filtered by it), and `kbbot kb rank --prune` deletes the
rows of every other model once every process has switched.

Downgrade keeps each chunk's most recently computed row (its model's, whichever it is).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30
"""

from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint('ranking_vectors_pkey', 'ranking_vectors', type_='primary')
    op.create_primary_key('ranking_vectors_pkey', 'ranking_vectors', ['chunk_id', 'model'])


def downgrade() -> None:
    op.execute("""
        DELETE FROM ranking_vectors r USING ranking_vectors newer
        WHERE newer.chunk_id = r.chunk_id AND (newer.computed_at, newer.model) > (r.computed_at, r.model)
    """)
    op.drop_constraint('ranking_vectors_pkey', 'ranking_vectors', type_='primary')
    op.create_primary_key('ranking_vectors_pkey', 'ranking_vectors', ['chunk_id'])
