"""The embeddings of each passage's units (sentences, list items, code blocks), kept once computed.

Every answered question embeds the units of its top passages to choose the quoted evidence and to
check the summary against them (bot/unit_scoring.py); that was 85% of the time to the evidence on
CPU (bench/answer_latency.py). A passage's units never change while its chunk exists, so their
vectors are stored the first time a question reads them and read back afterwards:

* `unit_vectors`: one row per chunk, the vectors of its units packed as float16 (`count` × 384 × 2
  bytes), the embedder that computed them (`model`) and a digest of the unit texts they belong to;
  a row whose model or digest differs from what the reader expects is recomputed and replaced.
  Deleted with its chunk.

Revision ID: 0017
Revises: 0015
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'unit_vectors',
        sa.Column('chunk_id', sa.BigInteger(), nullable=False),
        sa.Column('model', sa.Text(), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('vectors', sa.LargeBinary(), nullable=False),
        sa.Column('computed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['chunk_id'], ['chunks.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('chunk_id'),
    )


def downgrade() -> None:
    op.drop_table('unit_vectors')
