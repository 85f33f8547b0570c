"""Verified answers: teammates' replies confirmed as the answer, served first when the question returns.

* `verified_answers`: the question (and its embedding, for matching new questions by meaning), the
  scrubbed answer text, who wrote and who confirmed it, the source thread's permalink, the scope it
  may be served in, the answer and reference answer it came from, the prompt it trains with, and
  whether it is active or retired.
* `verified_answer_revisions`: every version of the text (the confirmed reply, then each edit).
* `answers.verified_answer_id`: the verified answer an answer was served from as it is.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import pgvector.sqlalchemy
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'verified_answers',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('answer_text', sa.Text(), nullable=False),
        sa.Column('question_embedding', pgvector.sqlalchemy.vector.VECTOR(dim=384), nullable=False),
        sa.Column('scope', sa.String(length=64), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=True),
        sa.Column('thread_ts', sa.String(length=32), nullable=True),
        sa.Column('permalink', sa.Text(), nullable=True),
        sa.Column('author', sa.String(length=64), nullable=False),
        sa.Column('confirmed_by', sa.String(length=64), nullable=False),
        sa.Column('answer_id', sa.BigInteger(), nullable=True),
        sa.Column('reference_answer_id', sa.BigInteger(), nullable=True),
        sa.Column('prompt', sa.Text(), server_default='', nullable=False),
        sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
        sa.Column('retired_by', sa.String(length=64), nullable=True),
        sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("status in ('active', 'retired')", name='ck_verified_answers_status'),
        sa.ForeignKeyConstraint(['answer_id'], ['answers.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['reference_answer_id'], ['reference_answers.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('reference_answer_id'),
    )
    op.create_index(op.f('ix_verified_answers_scope'), 'verified_answers', ['scope'], unique=False)
    op.create_index(op.f('ix_verified_answers_answer_id'), 'verified_answers', ['answer_id'], unique=False)
    op.create_table(
        'verified_answer_revisions',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('verified_answer_id', sa.BigInteger(), nullable=False),
        sa.Column('answer_text', sa.Text(), nullable=False),
        sa.Column('edited_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['verified_answer_id'], ['verified_answers.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_verified_answer_revisions_verified_answer_id'), 'verified_answer_revisions',
                    ['verified_answer_id'], unique=False)
    op.add_column('answers', sa.Column('verified_answer_id', sa.BigInteger(), nullable=True))
    op.create_foreign_key('fk_answers_verified_answer_id', 'answers', 'verified_answers', ['verified_answer_id'],
                          ['id'], ondelete='SET NULL')


def downgrade() -> None:
    op.drop_constraint('fk_answers_verified_answer_id', 'answers', type_='foreignkey')
    op.drop_column('answers', 'verified_answer_id')
    op.drop_index(op.f('ix_verified_answer_revisions_verified_answer_id'), table_name='verified_answer_revisions')
    op.drop_table('verified_answer_revisions')
    op.drop_index(op.f('ix_verified_answers_answer_id'), table_name='verified_answers')
    op.drop_index(op.f('ix_verified_answers_scope'), table_name='verified_answers')
    op.drop_table('verified_answers')
