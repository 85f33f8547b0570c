"""The ranking model's own search: each passage's ranking vector mix, indexed (HNSW on halfvec).

The ranking model (all-mpnet-base-v2) re-orders the first stage's top 20 passages, so a section the
first stage (all-MiniLM-L6-v2) puts below them never reaches the answer. Searching the ranking
model's vectors as well, and adding its nearest passages to the ones re-ordered, finds them: on the
whole Python docs the first holdout's hit@5 went from 0.42 to 0.58 (README *Retrieval*). So each row
of `ranking_vectors` also keeps

* `search`: the ranking score's mix of the passage and heading vectors, (1 - w) * passage + w * heading
  (w = the first stage's heading weight), whose inner product with a question's vector *is* the
  ranking score; halfvec of the model's width, NULL until computed (`kbbot kb rank` fills it);
* `scope`: the chunk's scope, copied so that the scope filter runs inside the index scan (as
  `chunks.scope`); NULL only for rows written by older code, which the search never returns.

The index is a partial expression index on `search::halfvec(768)` over the rows of that width (the
bundled model's): a model of another width is still searched, without the index.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import HALFVEC

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

INDEXED_WIDTH = 768  # store.schema.RANKING_INDEXED_WIDTH at this revision


def upgrade() -> None:
    op.add_column('ranking_vectors', sa.Column('search', HALFVEC(), nullable=True))
    op.add_column('ranking_vectors', sa.Column('scope', sa.String(length=64), nullable=True))
    op.execute("UPDATE ranking_vectors r SET scope = c.scope FROM chunks c WHERE c.id = r.chunk_id")
    # Nullable: a process still running the code before this revision (a rolling deploy) inserts rows
    # without it; such rows have no search vector either, so no search reads them until `kb rank` fills both.
    op.create_index('ix_ranking_vectors_scope', 'ranking_vectors', ['scope'])
    op.execute(f"CREATE INDEX ix_ranking_vectors_search_hnsw ON ranking_vectors USING hnsw "
               f"((search::halfvec({INDEXED_WIDTH})) halfvec_ip_ops) WITH (m = 16, ef_construction = 128) "
               f"WHERE vector_dims(search) = {INDEXED_WIDTH}")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_ranking_vectors_search_hnsw")
    op.drop_index('ix_ranking_vectors_scope', table_name='ranking_vectors')
    op.drop_column('ranking_vectors', 'scope')
    op.drop_column('ranking_vectors', 'search')
