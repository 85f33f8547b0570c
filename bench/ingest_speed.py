"""Ingest speed and retrieval per embedding backend, every figure beside its baseline from the same run.

Two stages, each writing bench/results/ingest_speed.json as soon as it ends (a stopped run keeps
what it measured):

1. **Speed**, on the same real files (Python 3.11 FAQ and tutorial sources, ~700 chunks), each
   variant into an emptied database: today's path (each document read, embedded and stored in turn,
   `ingest_each` + `ingest_file`, PyTorch) against the pipeline (`ingest_path`: preparing overlapped
   with embedding, several documents per embedding call) on each backend, embedded as a bulk ingest
   is (PyTorch backends on a CPU with one encoder thread per core), plus bf16 with one encoder.
   Chunks per second and the ratio to the baseline; models are loaded and warmed before the clock starts.
2. **Retrieval**, on the quality bench's FAQ corpus (bench/quality.py) ingested once per backend into
   its own database and searched with that backend's query vectors: hit@1/5/10 and MRR of the
   product's default search for the FAQ headings and the teammate-style paraphrases, per set and
   pooled, and each backend's difference from torch (the default must stay within 0.01); plus
   the bf16-ingested corpus searched with int8 query vectors, which is what `auto` does.

Run: `python -m bench.ingest_speed [--backends torch torch-bf16 onnx onnx-int8] [--stages speed retrieval]
[--repeats 3]`.
`make setup` must have exported the ONNX model (var/models/embedding-onnx).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from knowledge.embedding import EMBEDDING_BACKENDS, Embedder, make_embedder

RESULTS = Path("bench/results/ingest_speed.json")
SPEED_SOURCES = ("faq", "tutorial")
"""Sub-folders of the Python doc sources ingested by the speed stage (26 files, ~690 chunks)."""
MAX_BYTES = 5 * 1024 * 1024
MIXED = "passages torch-bf16, queries onnx-int8"
"""The retrieval row of `auto` on a bf16 CPU: a bulk ingest embeds in bf16, the answering process in int8."""
DEFAULT_SEARCH = {"mode": "vector"}
"""The product's default search (vector + heading vectors), as bench/quality.py names it."""


def _files(sources: Path, folders: tuple[str, ...]) -> list[str]:
    from knowledge.ingest import collect_files

    files: list[str] = []
    for folder in folders:
        files += collect_files(sources / folder)[0]
    return files


def _empty(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.execute(text("TRUNCATE documents, chunks RESTART IDENTITY CASCADE"))


def _stored_chunks(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.execute(text("SELECT count(*) FROM chunks")).scalar_one())


def _warm(embedder: Embedder) -> Embedder:
    embedder.embed_documents(["warm-up text so that lazy initialisation is not timed"] * 4)
    return embedder


def speed_stage(sessions: sessionmaker[Session], files: list[str], backends: list[str], *,
                repeats: int = 1) -> dict[str, Any]:
    """Chunks/s of the per-document torch path and of the pipeline on each backend, same files.

    With `repeats` above 1 every variant runs that many times, round-robin (baseline, then each
    backend, again), so a slow spell of the shared cores falls on all of them; figures are the
    median run's seconds, with every run's seconds kept.
    """
    from knowledge.embedding import SentenceTransformerEmbedder
    from knowledge.ingest import ingest_each, ingest_file

    # What `kbbot kb add` of a directory embeds with: PyTorch backends on a CPU run several encoders.
    embedders = {backend: _warm(make_embedder(backend, bulk=True)) for backend in backends}  # type: ignore[arg-type]
    runs: list[tuple[str, Embedder, bool]] = [
        ("per document, torch (before)", _warm(make_embedder("torch")), False)]
    runs += [(f"pipeline, {backend}", embedders[backend], True) for backend in backends]
    if "torch-bf16" in backends and getattr(embedders["torch-bf16"], "encoders", 1) > 1:
        runs.append(("pipeline, torch-bf16, one encoder", _warm(SentenceTransformerEmbedder(bfloat16=True)), True))
    measured: dict[str, list[tuple[float, int, Any]]] = {name: [] for name, _, _ in runs}
    for _ in range(repeats):
        for name, embedder, pipelined in runs:
            _empty(sessions)
            started = time.perf_counter()
            if pipelined:
                report = _pipeline(sessions, embedder, files)
            else:
                report = ingest_each(files, lambda file, embedder=embedder: ingest_file(  # type: ignore[misc]
                    sessions, embedder, Path(file), max_bytes=MAX_BYTES), progress=False)
            seconds = time.perf_counter() - started
            chunks = _stored_chunks(sessions)
            measured[name].append((seconds, chunks, report))
            print(f"{name:>32}: {chunks} chunks in {seconds:6.1f} s = {chunks / seconds:6.2f} chunks/s", flush=True)
    variants: dict[str, dict[str, Any]] = {}
    for name, attempts in measured.items():
        seconds, chunks, report = sorted(attempts, key=lambda attempt: attempt[0])[len(attempts) // 2]
        variants[name] = {"files": len(report.results), "failed": len(report.failures), "chunks": chunks,
                          "seconds": round(seconds, 2), "chunks_per_s": round(chunks / seconds, 2),
                          "runs_seconds": [round(attempt[0], 2) for attempt in attempts]}
    baseline = variants["per document, torch (before)"]["chunks_per_s"]
    for figures in variants.values():
        figures["ratio_to_before"] = round(figures["chunks_per_s"] / baseline, 2)
    return {"files": len(files), "sources": list(SPEED_SOURCES), "repeats": repeats, "variants": variants}


def _pipeline(sessions: sessionmaker[Session], embedder: Embedder, files: list[str]) -> Any:
    """The pipeline `ingest_path` runs for one folder, over the speed stage's list of files."""
    from knowledge.ingest import prepare_file
    from knowledge.ingest_pipeline import ingest_batch

    return ingest_batch(sessions, embedder, files,
                        lambda file: prepare_file(sessions, Path(file), max_bytes=MAX_BYTES), progress=False)


def _searched(sessions: sessionmaker[Session], embedder: Embedder, sets: dict[str, Any]) -> dict[str, Any]:
    """hit@k, MRR and p50 of the default search per question set, and pooled over all of them."""
    from bench.answer_quality import retrieval_figures
    from bench.quality import search_ranks

    figures: dict[str, Any] = {}
    pooled: list[int | None] = []
    for set_name, questions in sets.items():
        ranks, p50 = search_ranks(sessions, embedder, questions, **DEFAULT_SEARCH)
        pooled += ranks
        figures[set_name] = {**retrieval_figures(ranks), "questions": len(questions), "p50_ms": round(p50, 1)}
    figures["all questions"] = {**retrieval_figures(pooled), "questions": len(pooled)}
    return figures


def retrieval_stage(backends: list[str], sources: Path) -> dict[str, Any]:
    """hit@k/MRR of the default search on the FAQ corpus, ingested and queried with each backend."""
    from bench.faq import load_faq
    from bench.quality import Corpus, _corpus_database, corpora
    from bench.question_sets import headings, paraphrases
    from knowledge.ingest import ingest_path

    items = load_faq(sources)
    sets = {"headings": headings(items), "paraphrases dev": paraphrases(items, "dev"),
            "paraphrases test": paraphrases(items, "test")}
    faq = corpora(sources)["faq"]
    table: dict[str, Any] = {}
    for backend in ["torch", *[b for b in backends if b != "torch"]]:
        corpus = Corpus(faq.label, faq.sources, Path(f"var/bench-faq-{backend}-pg"))
        engine, sessions = _corpus_database(corpus)
        embedder = make_embedder(backend, bulk=True)  # type: ignore[arg-type]
        _empty(sessions)
        started = time.perf_counter()
        report = ingest_path(sessions, embedder, corpus.sources, max_bytes=MAX_BYTES, progress=False)
        row: dict[str, Any] = {"chunks": _stored_chunks(sessions), "failed": len(report.failures),
                               "ingest_seconds": round(time.perf_counter() - started, 1)}
        row |= _searched(sessions, embedder, sets)
        table[backend] = row
        engine.dispose()
        print(f"{backend:>10}: " + "  ".join(f"{name} hit@1 {f['hit_at_1']:.3f} hit@5 {f['hit_at_5']:.3f} "
                                             f"hit@10 {f['hit_at_10']:.3f}" for name, f in row.items()
                                             if isinstance(f, dict)), flush=True)
    if {"torch-bf16", "onnx-int8"} <= table.keys():  # what `auto` does: bulk ingest in bf16, questions in int8
        engine, sessions = _corpus_database(Corpus(faq.label, faq.sources, Path("var/bench-faq-torch-bf16-pg")))
        queries = make_embedder("onnx-int8")
        table[MIXED] = {"chunks": _stored_chunks(sessions), "failed": 0,
                        "ingest_seconds": table["torch-bf16"]["ingest_seconds"], **_searched(sessions, queries, sets)}
        engine.dispose()
    for row in table.values():
        row["difference_from_torch"] = {
            set_name: {metric: round(figures[metric] - table["torch"][set_name][metric], 4)
                       for metric in ("hit_at_1", "hit_at_5", "hit_at_10", "mrr")}
            for set_name, figures in row.items() if isinstance(figures, dict) and "hit_at_1" in figures}
    return {"corpus": faq.label, "search": "vector + heading vectors (default)", "backends": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    concrete = [backend for backend in EMBEDDING_BACKENDS if backend != "auto"]  # auto is one of these
    parser.add_argument("--backends", nargs="+", choices=concrete, default=concrete)
    parser.add_argument("--stages", nargs="+", choices=["speed", "retrieval"], default=["speed", "retrieval"])
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of every speed variant, round-robin; the median run is reported")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from bench.quality import ensure_doc_sources

    sources = ensure_doc_sources()
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["machine"] = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(),
                          "python": platform.python_version()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if "speed" in args.stages:
        from bench.database import bench_database

        engine, sessions, _ = bench_database("ingest-speed")
        results["speed"] = speed_stage(sessions, _files(sources, SPEED_SOURCES), args.backends,
                                       repeats=args.repeats)
        results["speed"]["load_average_after"] = os.getloadavg()
        engine.dispose()
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    if "retrieval" in args.stages:
        results["retrieval"] = retrieval_stage(args.backends, sources)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
