"""Chunks carry a second vector: the embedding of their section heading alone.

Teammates ask in their own words; a section heading names what the section is about ("Socket
Mode", "Why are default values shared between objects?"). Re-scoring the nearest chunks by
0.8 × chunk similarity + 0.2 × heading similarity lifted hit@1 on hand-written paraphrases of the
Python FAQ from 0.38 to 0.46 (test split; bench/quality.py). NULL until computed: ingest fills it,
`python -m knowledge backfill-headings` fills rows stored before this revision, and search falls
back to the chunk vector where it is missing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa
import pgvector.sqlalchemy

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('chunks', sa.Column('heading_embedding', pgvector.sqlalchemy.vector.VECTOR(dim=384), nullable=True))


def downgrade() -> None:
    op.drop_column('chunks', 'heading_embedding')
