"""Chunk vectors are stored as halfvec(384): half the index, the same search (bench/search_million.py).

Measured at 1M chunks in one run (bench/results/search_scale_1m.json), HNSW m 16 /
ef_construction 128, the product's workspace+channel filter with the iterative scan: the
`halfvec(384)` index takes 1,116 MB against 1,953 MB for `vector(384)` (the table 868 against
1,563 MB), recall@10 against exact search 0.979 against 0.943, p50 21 against 20 ms, p95 41
against 60 ms (2 loaded cores), build 650 against 637 s. MiniLM vectors are unit length with
components far inside float16's range and precision, so cosine similarities move by about 1e-3.

Queries keep binding `CAST(:q AS vector)`: pgvector casts vector to halfvec implicitly, so the
halfvec operator and its index serve them. Upgrading rebuilds the HNSW index (minutes per million
chunks); downgrading converts back.

Revision ID: 0013
Revises: 0014
Create Date: 2026-11-29
"""

from alembic import op

revision = '0013'
down_revision = '0014'
branch_labels = None
depends_on = None

DIM = 384


def _convert(to: str, ops: str) -> None:
    op.execute("DROP INDEX IF EXISTS ix_chunks_embedding_hnsw")
    op.execute(f"ALTER TABLE chunks ALTER COLUMN embedding TYPE {to}({DIM}) USING embedding::{to}({DIM}), "
               f"ALTER COLUMN heading_embedding TYPE {to}({DIM}) USING heading_embedding::{to}({DIM})")
    op.execute(f"CREATE INDEX ix_chunks_embedding_hnsw ON chunks USING hnsw (embedding {ops}) "
               "WITH (m = 16, ef_construction = 128)")


def upgrade() -> None:
    _convert("halfvec", "halfvec_cosine_ops")


def downgrade() -> None:
    _convert("vector", "vector_cosine_ops")
