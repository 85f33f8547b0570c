"""Passage search over chunks: pgvector HNSW, Postgres full text, and their RRF fusion (store).

Scope rule: a query asked in a channel sees workspace documents plus that channel's own documents and
never another channel's, unless the caller passes `scopes`: the answer sources an admin set for the
channel (`/kb channel … sources`: its own documents only, or another private channel's too). The
filter runs inside the HNSW scan with `hnsw.iterative_scan`, because without it a selective filter
returns fewer rows than asked (measured: half the rows at 3% selectivity).

Mode choice (see README "Retrieval quality"): `vector` is the default because it measured best on
the Python FAQ evaluation; `fulltext` and `hybrid` stay available for comparison and for corpora
where exact terms matter more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from sqlalchemy import Row, text
from sqlalchemy.orm import Session, sessionmaker

from knowledge.embedding import Embedder
from store.schema import WORKSPACE_SCOPE
from store.types import Passage
from store.vector_text import vector_literal

SearchMode = Literal["vector", "fulltext", "hybrid"]
DEFAULT_MODE: SearchMode = "vector"
DEFAULT_EF_SEARCH = 128
"""HNSW candidate list size: measured recall@10 vs exact 0.91 at 64, 0.99 at 100 (bench/search_scale.py)."""
MAX_EF_SEARCH = 1000
"""pgvector's upper bound of `hnsw.ef_search`: a larger value is an error on every query. Past it the
iterative scan (`hnsw.iterative_scan`) still returns `limit` rows."""
RRF_K = 60
"""The usual reciprocal-rank-fusion constant; it damps the weight of the very top ranks."""

_SELECT_PASSAGE = """
    c.id AS chunk_id, c.document_id, d.title, d.uri, c.heading, c.text, c.scope
"""

HEADING_WEIGHT = 0.2
"""Share of a chunk's vector score taken from its heading's similarity (migration 0005, bench/quality.py)."""
CANDIDATE_POOL = 50
"""Nearest chunks re-scored with their heading vectors; the final `limit` come from these."""

REPEAT_ROOM = 3
"""Passages read per passage returned, so that repeats of a better passage can be dropped (see
`distinct_passages`) and still leave `limit` passages."""

def _mixed_score(distance: str) -> str:
    """SQL for a chunk's score: `distance` (its embedding's cosine distance to :query_vector) mixed with its
    heading's, :heading_weight on the heading; a chunk without a heading vector keeps its own distance."""
    return (f"(1 - :heading_weight) * (1 - {distance}) "
            f"+ :heading_weight * (1 - COALESCE(c.heading_embedding <=> CAST(:query_vector AS vector), {distance}))")


# Distances are computed in a materialised inner query so the relaxed-order iterative HNSW scan
# can be re-sorted exactly outside it (pgvector's documented pattern). The outer query re-scores
# the pool with the heading vectors (a chunk without one keeps its own similarity there).
_VECTOR_SQL = text(f"""
    WITH nearest AS MATERIALIZED (
        SELECT id, embedding <=> CAST(:query_vector AS vector) AS distance
        FROM chunks
        WHERE scope = ANY(:scopes)
        ORDER BY embedding <=> CAST(:query_vector AS vector)
        LIMIT :pool
    ), scored AS (
        SELECT n.id, 1 - n.distance AS similarity, {_mixed_score("n.distance")} AS score
        FROM nearest n JOIN chunks c ON c.id = n.id
    )
    SELECT {_SELECT_PASSAGE}, s.score, s.similarity
    FROM scored s JOIN chunks c ON c.id = s.id JOIN documents d ON d.id = c.document_id
    ORDER BY s.score DESC, c.id
    LIMIT :limit
""")

# Questions are natural language: an AND of every word rarely matches, so the words are OR-ed and
# ts_rank_cd orders by how many and how close they are.
_FULLTEXT_SQL = text(f"""
    WITH q AS (
        SELECT to_tsquery('english', replace(plainto_tsquery('english', :query)::text, ' & ', ' | ')) AS query
    )
    SELECT {_SELECT_PASSAGE}, ts_rank_cd(c.tsv, q.query) AS score,
           1 - (c.embedding <=> CAST(:query_vector AS vector)) AS similarity
    FROM chunks c JOIN documents d ON d.id = c.document_id, q
    WHERE c.scope = ANY(:scopes) AND c.tsv @@ q.query
    ORDER BY score DESC, c.id
    LIMIT :limit
""")


def conversation_scope(channel: str | None, kind: str | None) -> str:
    """The scope a conversation's documents and answers belong to.

    Public channels (kind "public") and questions asked outside Slack (no channel) share the
    workspace scope; private channels, group DMs, DMs and conversations of unknown kind keep their
    own id, so nothing said there reaches anyone else, in search or in training.
    """
    return WORKSPACE_SCOPE if channel is None or kind == "public" else channel


def visible_scopes(channel: str | None) -> list[str]:
    """Scopes a question asked in `channel` may read (None: workspace documents only)."""
    if channel and channel != WORKSPACE_SCOPE:
        return [WORKSPACE_SCOPE, channel]
    return [WORKSPACE_SCOPE]


def _passage(row: Row, score: float, similarity: float) -> Passage:
    return Passage(chunk_id=row.chunk_id, document_id=row.document_id, title=row.title, uri=row.uri,
                   heading=row.heading, text=row.text, score=float(score), scope=row.scope,
                   similarity=float(similarity))


def scan_breadth(limit: int, heading_weight: float) -> int:
    """`hnsw.ef_search` for `limit` results: at least 4 candidates a result, and the whole pool the
    heading vectors re-score when they are used; never above pgvector's bound (a deep `KB_RERANK_DEPTH`
    or `KB_ANSWER_PASSAGES` would otherwise fail every question)."""
    return min(MAX_EF_SEARCH, max(DEFAULT_EF_SEARCH, 4 * limit, CANDIDATE_POOL if heading_weight else limit))


def vector_search(session: Session, query_vector: Sequence[float], *, scopes: list[str], limit: int,
                  ef_search: int | None = None, heading_weight: float = HEADING_WEIGHT) -> list[Passage]:
    """Nearest chunks by cosine similarity, re-scored with their heading's similarity.

    `score` = (1 - heading_weight) × chunk similarity + heading_weight × heading similarity;
    `similarity` is the chunk's own cosine similarity (what relevance thresholds read).
    """
    pool = max(limit, CANDIDATE_POOL) if heading_weight else limit
    session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    session.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search or scan_breadth(limit, heading_weight))}"))
    rows = session.execute(_VECTOR_SQL, {"query_vector": vector_literal(query_vector), "scopes": scopes,
                                         "limit": limit, "pool": pool, "heading_weight": heading_weight})
    return [_passage(row, row.score, row.similarity) for row in rows]


_BY_ID_SQL = text(f"""
    WITH measured AS (
        SELECT id, embedding <=> CAST(:query_vector AS vector) AS distance FROM chunks
        WHERE id = ANY(CAST(:ids AS bigint[]))
    )
    SELECT {_SELECT_PASSAGE}, 1 - m.distance AS similarity, {_mixed_score("m.distance")} AS score
    FROM measured m JOIN chunks c ON c.id = m.id JOIN documents d ON d.id = c.document_id
""")


def passages_by_id(session: Session, chunk_ids: Sequence[int], query_vector: Sequence[float], *,
                   heading_weight: float = HEADING_WEIGHT) -> list[Passage]:
    """The passages of `chunk_ids`, in that order (deleted ones left out), scored as `vector_search`
    scores them: how passages another search found join the first stage's (knowledge/passage_ranking.py)."""
    if not chunk_ids:
        return []
    rows = {row.chunk_id: row for row in session.execute(_BY_ID_SQL, {
        "ids": list(chunk_ids), "query_vector": vector_literal(query_vector), "heading_weight": heading_weight})}
    return [_passage(rows[chunk_id], rows[chunk_id].score, rows[chunk_id].similarity)
            for chunk_id in chunk_ids if chunk_id in rows]


def fulltext_search(session: Session, query: str, query_vector: Sequence[float], *, scopes: list[str],
                    limit: int) -> list[Passage]:
    """Chunks matching any query word, ranked by Postgres ts_rank_cd (with their cosine similarity)."""
    rows = session.execute(_FULLTEXT_SQL, {"query": query, "scopes": scopes, "limit": limit,
                                           "query_vector": vector_literal(query_vector)})
    return [_passage(row, row.score, row.similarity) for row in rows]


def fuse_rankings(rankings: Sequence[Sequence[Passage]], weights: Sequence[float], *, limit: int,
                  k: int = RRF_K) -> list[Passage]:
    """Weighted reciprocal-rank fusion; a passage's score becomes its fused RRF score."""
    scores: dict[int, float] = {}
    first_seen: dict[int, Passage] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, passage in enumerate(ranking, start=1):
            scores[passage.chunk_id] = scores.get(passage.chunk_id, 0.0) + weight / (k + rank)
            first_seen.setdefault(passage.chunk_id, passage)
    ordered = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))[:limit]
    return [replace(first_seen[chunk_id], score=scores[chunk_id]) for chunk_id in ordered]


def distinct_passages(passages: Sequence[Passage], limit: int) -> list[Passage]:
    """The first `limit` passages whose text (whitespace aside) no better-ranked passage already has.

    Documentation repeats itself: npm's docs carry the same `ignore-scripts` section in every command
    page that takes the option, a generated site repeats a notice on every page. Each copy took a place
    in the top results (five of five for one question) and in the answer's sources, pushing out
    passages that say something else; the best-ranked copy stays.
    """
    seen: set[str] = set()
    kept: list[Passage] = []
    for passage in passages:
        key = " ".join(passage.text.split())
        if key in seen:
            continue
        seen.add(key)
        kept.append(passage)
        if len(kept) == limit:
            break
    return kept


def search_passages(sessions: sessionmaker[Session], embedder: Embedder, query: str, *,
                    channel: str | None = None, limit: int = 10, mode: SearchMode = DEFAULT_MODE,
                    text_weight: float = 1.0, heading_weight: float = HEADING_WEIGHT,
                    scopes: Sequence[str] | None = None,
                    query_vector: Sequence[float] | None = None) -> list[Passage]:
    """The `limit` best passages for `query` visible from `channel`, best first, each text once.

    Args:
        scopes: the scopes read instead of `visible_scopes(channel)` (a channel's own answer sources).
        mode: "vector" (cosine similarity scores in [-1, 1]), "fulltext" (ts_rank_cd scores) or
            "hybrid" (RRF of both; scores are fused RRF values). Every mode fills each passage's
            `similarity` (cosine to the query), so relevance thresholds mean the same in all modes.
        text_weight: weight of the full-text ranking in hybrid mode (vector weight is 1).
        heading_weight: share of the vector score taken from heading similarity (0: chunk vectors only).
        query_vector: `query`'s embedding when the caller has it already (else embedded here).
    """
    if not query.strip():
        raise ValueError("search query is empty")
    scopes = list(scopes) if scopes is not None else visible_scopes(channel)
    if query_vector is None:
        query_vector = embedder.embed_query(query)
    read = limit * REPEAT_ROOM
    # The HNSW scan's breadth stays what `limit` asks for: the extra rows come from the same candidates.
    ef_search = scan_breadth(limit, heading_weight)
    with sessions() as session, session.begin():
        if mode == "fulltext":
            return distinct_passages(fulltext_search(session, query, query_vector, scopes=scopes, limit=read), limit)
        if mode == "vector":
            return distinct_passages(vector_search(session, query_vector, scopes=scopes, limit=read,
                                                   ef_search=ef_search, heading_weight=heading_weight), limit)
        pool = max(limit * 3, 30)
        by_vector = vector_search(session, query_vector, scopes=scopes, limit=pool, heading_weight=heading_weight)
        by_text = fulltext_search(session, query, query_vector, scopes=scopes, limit=pool)
    return distinct_passages(fuse_rankings([by_vector, by_text], [1.0, text_weight], limit=pool), limit)


# A stem is looked up as a literal lexeme ('simple' leaves it as is): chunk tsvectors are built with
# Postgres's english configuration, whose stemmer is the same Snowball English one bot/lexicon.py uses.
# Stems of four or more letters match as prefixes, so an abbreviation ("prod", "config") is known
# when the documents spell the word out ("production", "configuration").
_KNOWN_TERMS_SQL = text("""
    SELECT term FROM unnest(CAST(:terms AS text[])) AS term
    WHERE EXISTS (SELECT 1 FROM chunks c
                  WHERE c.scope = ANY(:scopes)
                    AND c.tsv @@ to_tsquery('simple', quote_literal(term) || CASE WHEN length(term) >= 4
                                                                                  THEN ':*' ELSE '' END))
""")


def unknown_terms(sessions: sessionmaker[Session], terms: Sequence[str], *, channel: str | None = None,
                  scopes: Sequence[str] | None = None) -> list[str]:
    """The stems among `terms` that no passage visible from `channel` (or in `scopes`) contains (full-text index).

    A question whose subject the knowledge base never mentions ("django", "kubernetes", "wifi")
    cannot be answered from it, however similar its other words are (bot/abstention.py).
    """
    wanted = sorted({term for term in terms if term})
    if not wanted:
        return []
    with sessions() as session:
        read = list(scopes) if scopes is not None else visible_scopes(channel)
        known = set(session.scalars(_KNOWN_TERMS_SQL, {"terms": wanted, "scopes": read}))
    return [term for term in wanted if term not in known]
