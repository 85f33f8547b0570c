"""Search latency, recall and memory at 10k and 100k chunks, plus real ingest throughput.

Prints p50/p95 HNSW query latency (unfiltered and scope-filtered with iterative scan), recall@10
against exact search measured in the same run, index build time, Postgres memory and the
end-to-end ingest rate of real documents with the real MiniLM embedder.

Vectors at scale are synthetic but shaped like passage embeddings (topics → documents →
chunks, see SyntheticCorpus): embedding 100k real passages at ~17/s would take hours on 2 cores.

Run: `python -m bench.search_scale [--sizes 10000,100000] [--queries 200] [--out PATH]`. Writes every
printed figure, the settings and the machine's load at start and end to bench/results/search_scale.json
(and its table, rendered by bench/readme_tables.py, to search_scale.md), rewritten after each size so
a stopped run keeps what it measured.

`--million` runs the 1M-chunk comparison instead (`bench.search_million`): `vector(384)` against
`halfvec(384)` HNSW, stage by stage into bench/results/search_scale_1m.json, resumable.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from sqlalchemy import Index, text

from bench.database import bench_database
from bench.machine import machine_at_end, machine_at_start
from bench.readme_tables import write_result
from knowledge.search import vector_search
from store.schema import EMBEDDING_DIM, Chunk

RESULTS = Path("bench/results/search_scale.json")
SCOPES = ["workspace"] * 90 + [f"C{i:02d}" for i in range(10)]  # 10 channels, ~1% of rows each
FILTERS = {"none": ["workspace"] + [f"C{i:02d}" for i in range(10)], "1 chan": ["C03"],
           "ws+chan": ["workspace", "C03"]}
"""Scopes a query may see: everything, one channel's ~1% of rows, workspace plus one channel (the bot's filter)."""


LATENT_DIM = 48
"""Sentence embeddings live near a low-dimensional manifold; 48 latent dims is a conservative guess."""
CHUNKS_PER_DOCUMENT = 20


class SyntheticCorpus:
    """Topics → documents → chunks in a LATENT_DIM space projected to EMBEDDING_DIM, unit length.

    Chunks of one document sit near each other and documents of one topic near each other, as with
    real passages; a query is a point near one chunk (a question is close to its answer passage).
    """

    def __init__(self, rng: np.random.Generator, *, topics: int = 300) -> None:
        self.rng = rng
        self.projection = rng.normal(size=(LATENT_DIM, EMBEDDING_DIM)) / np.sqrt(LATENT_DIM)
        self.topics = rng.normal(size=(topics, LATENT_DIM))

    def _embed(self, latent: np.ndarray) -> np.ndarray:
        rows = latent @ self.projection + 0.05 * self.rng.normal(size=(len(latent), EMBEDDING_DIM))
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    def chunks(self, count: int) -> np.ndarray:
        documents = -(-count // CHUNKS_PER_DOCUMENT)
        centres = self.topics[self.rng.integers(0, len(self.topics), size=documents)]
        centres = centres + 0.5 * self.rng.normal(size=centres.shape)
        latent = np.repeat(centres, CHUNKS_PER_DOCUMENT, axis=0)[:count]
        self.latent = latent + 0.3 * self.rng.normal(size=latent.shape)
        return self._embed(self.latent)

    def queries(self, count: int) -> np.ndarray:
        picked = self.latent[self.rng.integers(0, len(self.latent), size=count)]
        return self._embed(picked + 0.3 * self.rng.normal(size=picked.shape))


def load_chunks(engine, vectors: np.ndarray, rng: np.random.Generator) -> float:
    """COPY the vectors in as chunks of synthetic documents; returns rows/s."""
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("TRUNCATE documents, chunks RESTART IDENTITY CASCADE")
        cursor.execute("DROP INDEX IF EXISTS ix_chunks_embedding_hnsw")  # bulk load first, index after
        cursor.execute("INSERT INTO documents (source, title, uri, content_hash) "
                       "SELECT 'text', 'doc ' || g, 'bench:' || g, md5(g::text) FROM generate_series(1, 1000) g")
        scopes = rng.choice(SCOPES, size=len(vectors))
        buffer = io.StringIO()
        for index, (vector, scope) in enumerate(zip(vectors, scopes, strict=True)):
            literal = "[" + ",".join(f"{v:.6f}" for v in vector) + "]"
            buffer.write(f"{index % 1000 + 1}\t{index}\t{scope}\tchunk {index}\t{literal}\n")
        buffer.seek(0)
        with cursor.copy("COPY chunks (document_id, ordinal, scope, text, embedding) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        raw.commit()
    finally:
        raw.close()
    return len(vectors) / (time.perf_counter() - started)


def _hnsw_operator_class() -> str:
    """The chunk index's operator class as store.schema declares it (halfvec_cosine_ops since migration 0013)."""
    index = next(argument for argument in Chunk.__table_args__
                 if isinstance(argument, Index) and argument.name == "ix_chunks_embedding_hnsw")
    return str(index.dialect_options["postgresql"]["ops"]["embedding"])


def build_index(engine, m: int = 16, ef_construction: int = 128) -> float:
    """Recreate the HNSW index over the loaded rows (defaults: the migration's DDL); returns seconds."""
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(text("SET maintenance_work_mem = '1GB'"))
        connection.execute(text(f"CREATE INDEX ix_chunks_embedding_hnsw ON chunks USING hnsw (embedding "
                                f"{_hnsw_operator_class()}) WITH (m = {int(m)}, "
                                f"ef_construction = {int(ef_construction)})"))
        connection.execute(text("ANALYZE chunks"))
    return time.perf_counter() - started


def exact_ids(session, query: np.ndarray, scopes: list[str], limit: int) -> list[int]:
    """The exact nearest `limit` chunks under the same filter (index scans off): recall@10's truth.

    It orders the stored column (halfvec since migration 0013), so recall measures the HNSW
    approximation alone; bench/search_million.py compares against float32 vectors instead.
    """
    session.execute(text("SET LOCAL enable_indexscan = off"))
    rows = session.execute(text("SELECT id FROM chunks WHERE scope = ANY(:scopes) "
                                "ORDER BY embedding <=> CAST(:q AS vector) LIMIT :limit"),
                           {"q": "[" + ",".join(f"{v:.6f}" for v in query) + "]", "scopes": scopes, "limit": limit})
    return [row.id for row in rows]


def measure(sessions, queries: np.ndarray, scopes: list[str], ef_search: int | None) -> dict[str, float]:
    """p50/p95 ms of the product's vector search, its recall@10 against an exact scan, and rows it returned."""
    latencies, recalls, returned = [], [], []
    for query in queries:
        with sessions() as session, session.begin():
            started = time.perf_counter()
            found = vector_search(session, query.tolist(), scopes=scopes, limit=10, ef_search=ef_search)
            latencies.append((time.perf_counter() - started) * 1000)
        with sessions() as session, session.begin():
            truth = exact_ids(session, query, scopes, 10)
        recalls.append(len({p.chunk_id for p in found} & set(truth)) / max(1, len(truth)))
        returned.append(len(found))
    latencies.sort()
    return {"p50_ms": round(statistics.median(latencies), 3),
            "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
            "recall_at_10": round(statistics.mean(recalls), 4), "rows_returned": statistics.mean(returned)}


def postgres_rss_mb(engine) -> float:
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    parent = psutil.Process(pid).parent()
    processes = [parent, *parent.children()] if parent else []
    return sum(p.memory_info().rss for p in processes) / 2**20


def ingest_throughput(sessions) -> dict[str, Any]:
    """Real documents through the product ingest path with the real (PyTorch) MiniLM embedder."""
    from knowledge.embedding import SentenceTransformerEmbedder
    from knowledge.ingest import ingest_text

    embedder = SentenceTransformerEmbedder()
    paragraphs = [f"Section {i}\n\n" + " ".join(f"term{i}_{j} explains part {j} of topic {i}." for j in range(60))
                  for i in range(40)]
    document = "\n\n".join(f"## Topic {i}\n\n{p}" for i, p in enumerate(paragraphs))
    started = time.perf_counter()
    result = ingest_text(sessions, embedder, title="Bench handbook", text=document, fmt="markdown",
                         uri="bench:handbook", source="text")
    elapsed = time.perf_counter() - started
    return {"embedder": "all-MiniLM-L6-v2 on PyTorch (SentenceTransformerEmbedder)",
            "chunks": result.chunk_count, "seconds": round(elapsed, 2),
            "chunks_per_s": round(result.chunk_count / elapsed, 2), "chars_per_s": round(len(document) / elapsed),
            "process_rss_mb": round(psutil.Process().memory_info().rss / 2**20)}


def measure_size(engine, sessions, corpus: SyntheticCorpus, rng: np.random.Generator, size: int,
                 args: argparse.Namespace, ef_values: list[int | None]) -> dict[str, Any]:
    """Load `size` synthetic chunks, build the index, and measure every filter × ef_search; prints each row."""
    vectors = corpus.chunks(size)
    load_rate = load_chunks(engine, vectors, rng)
    index_s = build_index(engine, args.m, args.ef_construction)
    asked = corpus.queries(args.queries)
    rows = []
    for label, scopes in FILTERS.items():
        for ef in ef_values:
            figures = measure(sessions, asked, scopes, ef)
            rss = postgres_rss_mb(engine)
            rows.append({"filter": label, "ef_search": ef, **figures, "postgres_rss_mb": round(rss)})
            print(f"{size:>8} {load_rate:>9.0f} {index_s:>8.1f} {label:>9} {ef or 'default':>7} "
                  f"{figures['p50_ms']:>7.2f} {figures['p95_ms']:>7.2f} {figures['recall_at_10']:>9.3f} "
                  f"{figures['rows_returned']:>6.1f} {rss:>9.0f}")
    return {"rows": size, "copy_rows_per_s": round(load_rate), "index_build_s": round(index_s, 2), "queries": rows}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--m", type=int, default=16, help="HNSW m (the migration uses 16)")
    parser.add_argument("--ef-construction", type=int, default=128, help="HNSW ef_construction (migration: 128)")
    parser.add_argument("--ef-search", default="", help="comma list of hnsw.ef_search values (default: product's)")
    parser.add_argument("--million", action="store_true",
                        help="run the 1M-chunk vector vs halfvec stages instead (options: bench/search_million.py)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="result file [default: %(default)s]")
    if "--million" in argv:
        from bench.search_million import main as million

        million([argument for argument in argv if argument != "--million"])
        return
    args = parser.parse_args(argv)
    machine = machine_at_start()
    engine, sessions, _ = bench_database("search")
    rng = np.random.default_rng(7)
    corpus = SyntheticCorpus(rng)
    ef_values: list[int | None] = [int(v) for v in args.ef_search.split(",") if v] or [None]
    sizes = [int(size) for size in args.sizes.split(",")]
    results: dict[str, Any] = {
        "settings": {"sizes": sizes, "queries": args.queries, "m": args.m, "ef_construction": args.ef_construction,
                     "ef_search": ef_values, "seed": 7, "latent_dim": LATENT_DIM,
                     "chunks_per_document": CHUNKS_PER_DOCUMENT},
        "machine": machine, "sizes": []}
    print(f"{'rows':>8} {'load/s':>9} {'index s':>8} {'filter':>9} {'ef':>7} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'recall@10':>9} {'rows':>6} {'pg RSS MB':>9}")
    for size in sizes:
        results["sizes"].append(measure_size(engine, sessions, corpus, rng, size, args, ef_values))
        write_result("search_scale", {**results, "machine": machine_at_end(machine)}, args.out)
    if not args.skip_ingest:
        figures = results["ingest"] = ingest_throughput(sessions)
        print(f"ingest ({figures['embedder']}): {figures['chunks']} chunks, {figures['chunks_per_s']:.1f} chunks/s, "
              f"{figures['chars_per_s']} chars/s; bench process RSS {figures['process_rss_mb']} MB")
    engine.dispose()
    print(f"wrote {write_result('search_scale', {**results, 'machine': machine_at_end(machine)}, args.out)}")


if __name__ == "__main__":
    main()
