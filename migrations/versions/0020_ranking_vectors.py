"""Each passage's vectors from the ranking model, which re-orders the search's top passages.

The first stage (all-MiniLM-L6-v2 chunk and heading vectors, HNSW) finds the candidates; a larger
sentence model (all-mpnet-base-v2 by default, `KB_RANKING_MODEL`) re-orders the top ones, which on
the quality bench's blind teammate wording lifts FAQ hit@1 from 0.67 to about 0.79
(bench/quality.py). Its vectors are 768 wide and only ever read for a handful of known chunks, so
they live beside the chunks, not in an index:

* `ranking_vectors`: one row per chunk, the ranking model's vector of the chunk's embedding input and
  of its heading (float16, packed), and which model computed them (`model`); a row of another model
  is recomputed. Deleted with its chunk.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ranking_vectors',
        sa.Column('chunk_id', sa.BigInteger(), nullable=False),
        sa.Column('model', sa.Text(), nullable=False),
        sa.Column('passage', sa.LargeBinary(), nullable=False),
        sa.Column('heading', sa.LargeBinary(), nullable=False),
        sa.Column('computed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['chunk_id'], ['chunks.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('chunk_id'),
    )


def downgrade() -> None:
    op.drop_table('ranking_vectors')
