"""URL documents are re-fetched on a schedule; a page gone twice is retired with a notice.

* `documents.etag`, `documents.last_modified`: the validators of the last download, sent back as
  If-None-Match / If-Modified-Since so an unchanged page costs one 304 and no embedding;
* `documents.checked_at`: when the page was last re-fetched;
* `documents.missing_count`: consecutive 404/410 answers (the second retires the document);
* `document_notices`: messages for the person who added a retired document, posted by the bot
  (the worker that re-fetches pages never talks to Slack).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('documents', sa.Column('etag', sa.Text(), nullable=True))
    op.add_column('documents', sa.Column('last_modified', sa.Text(), nullable=True))
    op.add_column('documents', sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('documents', sa.Column('missing_count', sa.SmallInteger(), server_default='0', nullable=False))
    op.create_table(
        'document_notices',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('recipient', sa.String(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('document_notices')
    for column in ('missing_count', 'checked_at', 'last_modified', 'etag'):
        op.drop_column('documents', column)
