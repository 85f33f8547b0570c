"""Which chunker cut each document, so a chunker change re-chunks documents added again.

`documents.chunking` holds `ChunkingConfig.signature()` (chunker version, chunk size, overlap) of the
chunks stored for the document. Re-adding or refreshing a document whose text is unchanged used to
keep its chunks whatever chunker made them, so a better chunker (Markdown tables cut between rows,
chunker version 2) never reached a knowledge base built before it. Rows stored before this revision
have NULL: unknown, re-chunked when their source is added or refreshed again.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('documents', sa.Column('chunking', sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column('documents', 'chunking')
