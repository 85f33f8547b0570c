"""1M chunks: `vector(384)` against `halfvec(384)` HNSW under the product's scope filter, stage by stage.

Stages (each skipped when its work is already in the database, each writing
bench/results/search_scale_1m.json when it ends, so a stopped run keeps its figures and a rerun
continues):

1. `load`: 1M synthetic passage-shaped vectors (`SyntheticCorpus`: topics → documents → chunks,
   generated in blocks) binary-COPYed into `scale_vec (id, scope, embedding vector(384))`, ~1% of
   rows in each of 10 channels and the rest workspace-wide; then `scale_half` as the same rows cast
   to `halfvec(384)` in SQL. The query set is drawn near random chunks and saved in the JSON.
2. `exact`: ground truth per query, exact top 10 by cosine distance on the fp32 vectors with the
   product's filter (`scope = ANY(['workspace', channel])`, a different channel per query) and,
   for reference, with no filter (every scope).
3. `index_vector` / `index_halfvec`: HNSW with the migration's settings (m 16, ef_construction
   128, cosine): build seconds, index size, Postgres RSS.
4. `query_vector` / `query_halfvec`: the product's HNSW scan (knowledge/search.py: iterative
   relaxed-order scan, ef_search 128, a pool of 50 re-sorted exactly): p50/p95 latency and recall@10
   against the exact truth. Heading re-scoring is left out: it re-orders the pool, not what HNSW finds.

The data lives in its own embedded Postgres under var/bench-scale-1m-pg (several GB; delete it after),
the query set and exact truth beside it (var/bench-scale-1m-pg-state.json) for resuming.
Run niced: `nice -n 15 python -m bench.search_scale --million [--rows 1000000] [--queries 100]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from sqlalchemy import Engine, text

from bench.search_scale import CHUNKS_PER_DOCUMENT, LATENT_DIM, SyntheticCorpus
from store.schema import EMBEDDING_DIM

RESULTS = Path("bench/results/search_scale_1m.json")
DATA_DIR = Path("var/bench-scale-1m-pg")
CHANNELS = [f"C{i:02d}" for i in range(10)]
BLOCK = 50_000
TABLES = {"vector": ("scale_vec", "vector", "vector_cosine_ops"),
          "halfvec": ("scale_half", "halfvec", "halfvec_cosine_ops")}
EF_SEARCH, POOL, LIMIT = 128, 50, 10
"""knowledge/search.py's DEFAULT_EF_SEARCH, CANDIDATE_POOL and the answer's 10."""


def _scopes(rng: np.random.Generator, count: int) -> np.ndarray:
    """90% workspace, 1% in each of 10 channels (as bench/search_scale.py's SCOPES)."""
    return np.where(rng.random(count) < 0.9, "workspace", np.array(CHANNELS)[rng.integers(0, 10, count)])


def _blocks(corpus: SyntheticCorpus, rows: int, rng: np.random.Generator, sample: list[np.ndarray],
            queries: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(vectors, scopes) in blocks of whole documents; keeps latent chunk points to draw queries near."""
    done = 0
    per_block = -(-queries // -(-rows // BLOCK)) + 1
    while done < rows:
        size = min(BLOCK, rows - done)
        vectors = corpus.chunks(size)
        picks = rng.integers(0, size, per_block)
        sample.extend(corpus.latent[picks])
        yield vectors, _scopes(rng, size)
        done += size


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        exists = connection.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar()
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()) if exists else 0


def load_stage(engine: Engine, rows: int, queries: int, figures: dict[str, Any]) -> None:
    """Create and fill both tables (unless already full) and draw the query set."""
    from pgvector.psycopg import register_vector

    if _count(engine, "scale_vec") == rows and "queries" in figures:
        print(f"load: {rows} rows already there", flush=True)
    else:
        rng = np.random.default_rng(11)
        corpus = SyntheticCorpus(rng)
        sample: list[np.ndarray] = []
        started = time.perf_counter()
        raw = engine.raw_connection()
        try:
            connection = raw.driver_connection
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS scale_vec, scale_half")
                cursor.execute(f"CREATE UNLOGGED TABLE scale_vec (id bigint PRIMARY KEY, scope varchar(64) NOT NULL, "
                               f"embedding vector({EMBEDDING_DIM}) NOT NULL)")
            raw.commit()
            register_vector(connection)
            next_id = 1
            for vectors, scopes in _blocks(corpus, rows, rng, sample, queries):
                with connection.cursor() as cursor, cursor.copy(
                        "COPY scale_vec (id, scope, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                    copy.set_types(["int8", "varchar", "vector"])
                    for offset, (vector, scope) in enumerate(zip(vectors, scopes, strict=True)):
                        copy.write_row((next_id + offset, str(scope), vector))
                raw.commit()
                next_id += len(vectors)
                print(f"load: {next_id - 1} rows ({(next_id - 1) / (time.perf_counter() - started):.0f}/s)", flush=True)
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE UNLOGGED TABLE scale_half AS SELECT id, scope, "
                               f"embedding::halfvec({EMBEDDING_DIM}) AS embedding FROM scale_vec")
                cursor.execute("ALTER TABLE scale_half ADD PRIMARY KEY (id)")
            raw.commit()
            connection.autocommit = True  # VACUUM refuses to run inside a transaction
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE scale_vec")
                cursor.execute("VACUUM ANALYZE scale_half")
        finally:
            raw.close()
        latent = np.array(sample)[rng.permutation(len(sample))[:queries]]
        query_vectors = corpus._embed(latent + 0.3 * rng.normal(size=latent.shape))  # noqa: SLF001 - as queries()
        figures["queries"] = [[round(float(v), 6) for v in vector] for vector in query_vectors]
        figures["query_channels"] = [CHANNELS[i % len(CHANNELS)] for i in range(len(query_vectors))]
        figures["load"] = {"rows": rows, "seconds": round(time.perf_counter() - started, 1),
                           "latent_dim": LATENT_DIM, "chunks_per_document": CHUNKS_PER_DOCUMENT}
        figures.pop("exact", None)
    figures["table_mb"] = {kind: _mb(engine, f"pg_table_size('{table}')") for kind, (table, _, _) in TABLES.items()}


def _literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{v:.6f}" for v in vector) + "]"


def exact_stage(engine: Engine, figures: dict[str, Any]) -> None:
    """Exact top 10 per query (fp32, sequential scan) with the product's filter and unfiltered."""
    if "exact" in figures:
        return
    truth: dict[str, list[list[int]]] = {"workspace+channel": [], "none": []}
    started = time.perf_counter()
    with engine.connect() as connection, connection.begin():
        # LOCAL: the pooled connection goes back to the query stages with index scans on again.
        connection.execute(text("SET LOCAL enable_indexscan = off"))
        connection.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))  # the shared cores stay shared
        for number, (vector, channel) in enumerate(zip(figures["queries"], figures["query_channels"], strict=True)):
            for label, scopes in (("workspace+channel", ["workspace", channel]), ("none", ["workspace", *CHANNELS])):
                rows = connection.execute(text("SELECT id FROM scale_vec WHERE scope = ANY(:scopes) "
                                               "ORDER BY embedding <=> CAST(:q AS vector) LIMIT :limit"),
                                          {"q": _literal(vector), "scopes": scopes, "limit": LIMIT})
                truth[label].append([row.id for row in rows])
            if number % 20 == 19:
                print(f"exact: {number + 1} queries", flush=True)
    figures["exact"] = truth
    figures["exact_seconds_per_query"] = round((time.perf_counter() - started) / (2 * len(figures["queries"])), 3)


def index_stage(engine: Engine, kind: str, figures: dict[str, Any]) -> None:
    """HNSW (the migration's m 16, ef_construction 128) on one table; build time, size and RSS."""
    table, _, ops = TABLES[kind]
    index = f"ix_{table}_hnsw"
    results = figures.setdefault("index", {})
    with engine.connect() as connection:
        present = connection.execute(text("SELECT to_regclass(:i)"), {"i": index}).scalar()
    if present and kind in results:
        return
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(text(f"DROP INDEX IF EXISTS {index}"))
        connection.execute(text("SET maintenance_work_mem = '3GB'"))  # the graph built in memory, not on disk
        connection.execute(text("SET max_parallel_maintenance_workers = 1"))
        connection.execute(text(f"CREATE INDEX {index} ON {table} USING hnsw (embedding {ops}) "
                                "WITH (m = 16, ef_construction = 128)"))
    results[kind] = {"build_seconds": round(time.perf_counter() - started, 1),
                     "index_mb": _mb(engine, f"pg_relation_size('{index}')"),
                     "postgres_rss_mb_after_build": round(_postgres_rss_mb(engine))}
    print(f"index {kind}: {results[kind]}", flush=True)


def query_stage(engine: Engine, kind: str, figures: dict[str, Any]) -> None:
    """The product's HNSW scan shape on one table: p50/p95 and recall@10 per filter."""
    table, cast, _ = TABLES[kind]
    sql = text(f"""
        WITH nearest AS MATERIALIZED (
            SELECT id, embedding <=> CAST(:q AS {cast}) AS distance FROM {table}
            WHERE scope = ANY(:scopes) ORDER BY embedding <=> CAST(:q AS {cast}) LIMIT :pool
        )
        SELECT id FROM nearest ORDER BY distance, id LIMIT :limit
    """)
    table_figures: dict[str, Any] = {}
    with engine.connect() as connection:

        def search(vector: list[float], scopes: list[str]) -> tuple[list[int], float]:
            """The ids found and the query's milliseconds (the session settings are not timed)."""
            with connection.begin():
                connection.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
                connection.execute(text(f"SET LOCAL hnsw.ef_search = {EF_SEARCH}"))
                started = time.perf_counter()
                found = [row.id for row in connection.execute(sql, {"q": _literal(vector), "scopes": scopes,
                                                                    "pool": POOL, "limit": LIMIT})]
                return found, (time.perf_counter() - started) * 1000

        for label in ("workspace+channel", "none"):
            searches = [(vector, ["workspace", channel] if label == "workspace+channel" else ["workspace", *CHANNELS])
                        for vector, channel in zip(figures["queries"], figures["query_channels"], strict=True)]
            # One unmeasured pass first, as a serving Postgres that has been answering has the index's
            # pages in memory: a resumed run starts with them on disk, and its first queries would
            # measure the disk, not the search.
            for vector, scopes in searches:
                search(vector, scopes)
            latencies, recalls = [], []
            for (vector, scopes), truth in zip(searches, figures["exact"][label], strict=True):
                found, milliseconds = search(vector, scopes)
                latencies.append(milliseconds)
                recalls.append(len(set(found) & set(truth)) / max(1, len(truth)))
            latencies.sort()
            table_figures[label] = {"p50_ms": round(statistics.median(latencies), 2),
                                    "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
                                    "recall_at_10": round(statistics.mean(recalls), 4), "queries": len(latencies)}
    table_figures["postgres_rss_mb_after_queries"] = round(_postgres_rss_mb(engine))
    figures.setdefault("query", {})[kind] = table_figures
    print(f"query {kind}: {table_figures}", flush=True)


def _mb(engine: Engine, expression: str) -> float:
    with engine.connect() as connection:
        return round(int(connection.execute(text(f"SELECT {expression}")).scalar_one()) / 2**20, 1)


def _postgres_rss_mb(engine: Engine) -> float:
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    parent = psutil.Process(pid).parent()
    processes = [parent, *parent.children()] if parent else []
    return sum(p.memory_info().rss for p in processes) / 2**20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from store.database import make_engine, start_embedded_server

    figures: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    if figures.get("rows") != args.rows:
        figures = {"rows": args.rows}
    figures["load_average_at_start"] = os.getloadavg()
    engine = make_engine(start_embedded_server(args.data_dir))
    with engine.begin() as connection:
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))

    def save(stage: str) -> None:
        figures.setdefault("stages_done", [])
        if stage not in figures["stages_done"]:
            figures["stages_done"].append(stage)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        public = {key: value for key, value in figures.items() if key not in ("queries", "exact", "query_channels")}
        args.out.write_text(json.dumps(public, indent=2) + "\n")
        state.write_text(json.dumps(figures))

    state = args.data_dir.with_name(args.data_dir.name + "-state.json")  # queries and exact truth, for resuming
    if state.exists():
        saved = json.loads(state.read_text())
        if saved.get("rows") == args.rows:
            figures = {**saved, **{k: v for k, v in figures.items() if k == "load_average_at_start"}}
    load_stage(engine, args.rows, args.queries, figures)
    save("load")
    exact_stage(engine, figures)
    save("exact")
    for kind in TABLES:
        index_stage(engine, kind, figures)
        save(f"index_{kind}")
        query_stage(engine, kind, figures)
        save(f"query_{kind}")
    engine.dispose()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
