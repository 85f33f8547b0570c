"""`kbbot kb …` and `kbbot db migrate` (alias `python -m knowledge …`): the knowledge base's commands (entry).

Reads the configuration tree's database, models and knowledge sections and wires the database and
the embedder into the package's functions. Every expected failure (bad input, unreachable database)
ends as one line on stderr naming the input, with exit status 1. The package, SQLAlchemy and the
embedding model are imported inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from knowledge.embedding import Embedder, EmbeddingBackend
    from knowledge.ingest import IngestReport, IngestResult, Prepared
    from knowledge.settings import KnowledgeSettings

WORKSPACE_SCOPE = "workspace"
"""`store.schema.WORKSPACE_SCOPE`, restated so that `--help` does not import SQLAlchemy (a test checks they agree)."""


@contextmanager
def _database(doing: str, *, migrated: bool = True) -> Iterator[tuple[str, sessionmaker[Session]]]:
    """The database URL and sessions; a database that is down (or, when `migrated`, not migrated to this
    code's schema) becomes a one-line error."""
    from sqlalchemy.exc import OperationalError

    from store.config import DatabaseSettings
    from store.database import (
        DatabaseUnavailable,
        check_connection,
        make_engine,
        make_session_factory,
        resolve_database_url,
    )
    from store.errors import one_line_reason

    database = DatabaseSettings()
    engine = None
    try:
        url = resolve_database_url(database.url, database.pg_data_dir)
        engine = make_engine(url)
        check_connection(engine)
        if migrated:
            from store.migrate import check_schema_current

            check_schema_current(engine)
        yield url, make_session_factory(engine)
    except DatabaseUnavailable as exc:
        raise click.ClickException(f"{doing}: {exc}") from exc
    except OperationalError as exc:  # the database went away mid-command
        raise click.ClickException(f"{doing}: database error: {one_line_reason(exc)}") from exc
    finally:
        if engine is not None:
            engine.dispose()


def _embedder(backend: EmbeddingBackend | None = None, *, bulk: bool = False) -> Embedder:
    """The configured embedding model (`KB_EMBEDDING_MODEL`) on `backend` (default `KB_EMBEDDING_BACKEND`), loaded now.

    `bulk`: for a bulk ingest (`make_embedder`).

    A missing or damaged ONNX export ends the command with its one-line message naming the fix.
    """
    from knowledge.embedding import make_embedder
    from knowledge.onnx_embedding import OnnxModelError
    from knowledge.settings import KnowledgeSettings
    from store.config import ModelsSettings

    models = ModelsSettings()
    try:
        return make_embedder(backend or KnowledgeSettings().embedding_backend, model=models.embedding_model,
                             models_dir=models.models_dir, bulk=bulk)
    except OnnxModelError as exc:
        raise click.ClickException(str(exc)) from exc


class _LazyEmbedder:
    """Loads the model on first use, so a refused or unchanged document never waits for it."""

    def __init__(self, backend: EmbeddingBackend, *, bulk: bool = False) -> None:
        self._embedder: Embedder | None = None
        self._backend = backend
        self._bulk = bulk
        self._loading = threading.Lock()  # the preparing thread (URLs) and the embedding one may both ask

    def _loaded(self) -> Embedder:
        with self._loading:
            if self._embedder is None:
                self._embedder = _embedder(self._backend, bulk=self._bulk)
            return self._embedder

    def embed_query(self, text: str) -> list[float]:
        return self._loaded().embed_query(text)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._loaded().embed_documents(texts)


def _describe(result: IngestResult) -> str:
    if result.status == "duplicate":
        return f"duplicate of document {result.document_id} {result.uri}; nothing written"
    return f"{result.status}: {result.title} ({result.chunk_count} chunks) {result.uri}"


@click.group()
def cli() -> None:
    """Team knowledge base: migrate the database, add documents, search them."""
    from store.log_format import configure_for_process

    configure_for_process(server=False, default_level="WARNING")


@cli.command()
def migrate() -> None:
    """Apply the database migrations (Alembic upgrade to head)."""
    from store.migrate import upgrade

    with _database("migrating", migrated=False) as (url, _):
        upgrade(url)
    click.echo("database migrated to head")


def _add_one(sessions: sessionmaker[Session], embedder: Embedder, settings: KnowledgeSettings, source: str,
             *, scope: str, title: str | None, added_by: str | None) -> Prepared:
    """A file read and chunked for the batch pipeline to embed; stdin and URLs added whole, one by one."""
    from knowledge.ingest import ingest_bytes, ingest_url, prepare_file

    max_bytes = settings.max_document_bytes
    if source == "-":
        with click.open_file("-", "rb") as stdin:
            data = stdin.read(max_bytes + 1)  # one byte over is enough to report "too large"
        return ingest_bytes(sessions, embedder, data, name="stdin", source="text", max_bytes=max_bytes,
                            title=title, scope=scope, added_by=added_by)
    if "://" in source:
        return ingest_url(sessions, embedder, source, allowlist=settings.allowlist_entries(),
                          max_bytes=max_bytes, timeout_s=settings.fetch_timeout_s, title=title, scope=scope,
                          added_by=added_by)
    return prepare_file(sessions, Path(source), max_bytes=max_bytes, title=title, scope=scope, added_by=added_by)


def _echo_report(report: IngestReport, *, batch: bool) -> None:
    """Each outcome, a summary for a batch, and exit status 1 when anything failed or the batch stopped."""
    for result in report.results:
        click.echo(_describe(result))
    for skipped in report.skipped:
        click.echo(f"skipped: {skipped.path} ({skipped.reason})")
    if batch or report.stopped:
        for failure in report.failures:
            click.echo(f"failed: {failure.message}", err=True)
    if batch:
        statuses = Counter(result.status for result in report.results)
        detail = ", ".join(f"{count} {status}" for status, count in statuses.items())
        click.echo(f"{len(report.results)} ingested{f' ({detail})' if detail else ''}, {len(report.failures)} failed, "
                   f"{len(report.skipped)} skipped")
    if report.stopped:
        raise click.ClickException(
            f"{report.stopped}; stopped with {len(report.not_attempted)} not added "
            f"({report.not_attempted[0]} onwards); the {len(report.results)} listed above are stored")
    if report.failures and not batch:
        raise click.ClickException(report.failures[0].message)
    if report.failures:
        total = len(report.results) + len(report.failures)
        raise click.ClickException(f"{len(report.failures)} of {total} could not be added (listed above)")


@cli.command()
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--scope", default=WORKSPACE_SCOPE, show_default=True,
              help="'workspace', or the Slack channel id whose questions alone may see it.")
@click.option("--title", help="Document title (default: the one found in the document); one document only.")
@click.option("--added-by", help="Who added it (a Slack user id or a name).")
def add(sources: tuple[str, ...], scope: str, title: str | None, added_by: str | None) -> None:
    """Add each SOURCE: a file, a directory (recursively), an http(s) URL, or '-' for stdin.

    Every file and URL ends as added, replaced, unchanged, duplicate, skipped or failed with its
    reason; one failure never stops the rest, and the exit status is 1 when any failed.
    """
    from knowledge.embedding import encoder_threads, resolve_backend
    from knowledge.ingest import SkippedFile, collect_files
    from knowledge.ingest_pipeline import ingest_batch
    from knowledge.settings import KnowledgeSettings

    settings = KnowledgeSettings()
    directories = [source for source in sources if source != "-" and "://" not in source and Path(source).is_dir()]
    batch = len(sources) > 1 or bool(directories)
    if batch and title:
        raise click.UsageError("--title names one document; it cannot be used with a directory or several sources")
    if sources.count("-") > 1:
        raise click.UsageError("'-' (stdin) can be given once")
    items: list[str] = []
    skipped: list[SkippedFile] = []
    for source in sources:
        files, skipped_here = ([source], []) if source == "-" or "://" in source else collect_files(Path(source))
        items += files
        skipped += skipped_here
    doing = f"adding {sources[0]}" if len(sources) == 1 else f"adding {len(sources)} sources"
    with _database(doing) as (_, sessions):
        # The ONNX backends load in a fraction of a second, and a missing export should fail once, up front.
        # A batch (a directory, several sources) is a bulk ingest, which `auto` may embed differently.
        backend = resolve_backend(settings.embedding_backend, bulk=batch)
        encoders = encoder_threads(backend, bulk=batch)
        threads = f", {encoders} encoder threads" if encoders > 1 else ""
        click.echo(f"embedding backend: {backend}{threads}", err=True)
        embedder = _LazyEmbedder(backend, bulk=batch) if backend in ("torch", "torch-bf16") else _embedder(backend)
        report = ingest_batch(sessions, embedder, items, lambda item: _add_one(
            sessions, embedder, settings, item, scope=scope, title=title, added_by=added_by), skipped=skipped)
        if report.results and not report.stopped:
            _rank_stored(sessions, after_add=True)
    _echo_report(report, batch=batch)


def _rank_stored(sessions: sessionmaker[Session], *, after_add: bool) -> int:
    """Compute the ranking model's vectors of every chunk still without them, saying how many and how fast
    (`kbbot kb rank` first fills the search vectors of rows stored before they were kept).

    `after_add`: the documents are already stored and searchable, so a missing ranking model is
    reported (the answers keep the first stage's order) without failing the command, and `off` is quiet.
    """
    from sqlalchemy.exc import OperationalError

    from knowledge.passage_ranking import fill_search_vectors, rank_missing
    from knowledge.ranking_model import RankingModelError, is_model_folder, load_ranker, ranking_off
    from store.config import ModelsSettings
    from store.errors import one_line_reason

    models = ModelsSettings()
    deployed = None if ranking_off(models.ranking_model) else _deployed_ranking_folder(sessions)
    if deployed and not is_model_folder(deployed):
        # A process that cannot see the worker's models folder (a release container, say) ranks with the
        # configured model, as the answering processes fall back to it.
        click.echo(f"ranking model: the deployed {deployed} is not here (share KB_MODELS_DIR with the training "
                   "worker); ranking with the configured model", err=True)
        deployed = None
    try:
        ranker = load_ranker(models.ranking_model, models.models_dir, deployed)
    except RankingModelError as exc:
        if not after_add:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"ranking model: {exc}", err=True)
        return 0
    if ranker is None:
        if not after_add:
            click.echo("ranking model: off (KB_RANKING_MODEL=off)")
        return 0
    if not after_add:
        filled = fill_search_vectors(sessions, ranker.model_name)
        if filled:
            click.echo(f"ranking model {ranker.model_name}: search vectors of {filled} older passages filled", err=True)
    started = time.perf_counter()
    try:
        ranked = rank_missing(sessions, ranker)
    except OperationalError as exc:
        if not after_add:
            raise
        click.echo(f"ranking model: passages not ranked ({one_line_reason(exc)}); `kbbot kb rank` finishes it",
                   err=True)
        return 0
    if ranked:
        elapsed = time.perf_counter() - started
        click.echo(f"ranking model {ranker.model_name}: {ranked} passages ranked ({elapsed:.1f} s, "
                   f"{ranked / max(elapsed, 1e-9):.1f}/s)", err=True)
    return ranked


@cli.command()
@click.argument("query")
@click.option("--channel", "--scope", "channel", help="Slack channel id: search its documents too.")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--mode", type=click.Choice(["vector", "fulltext", "hybrid"]), default=None,
              help="Search mode (default: KB_SEARCH_MODE, else vector).")
def search(query: str, channel: str | None, limit: int, mode: str | None) -> None:
    """Show the passages that best match QUERY, with their score and cosine similarity."""
    if not query.strip():
        raise click.BadParameter("the query is empty", param_hint="QUERY")
    from knowledge.search import search_passages
    from knowledge.settings import KnowledgeSettings

    settings = KnowledgeSettings()
    with _database(f"searching {query!r}") as (_, sessions):
        passages = search_passages(sessions, _embedder(), query, channel=channel, limit=limit,
                                   mode=mode or settings.search_mode)  # type: ignore[arg-type]
    if not passages:
        click.echo("no matching passages")
    for rank, passage in enumerate(passages, start=1):
        similarity = f" similarity {passage.similarity:.3f}" if passage.similarity is not None else ""
        click.echo(f"{rank}. [{passage.score:.3f}{similarity}] {passage.title}")
        if passage.heading:
            click.echo(f"   § {passage.heading}")
        click.echo(f"   {passage.uri}")
        excerpt = " ".join(passage.text.split())
        click.echo(f"   {excerpt[:200]}{'…' if len(excerpt) > 200 else ''}")


@cli.command()
@click.argument("reference", metavar="URI|ID")
@click.option("--scope", help="Remove only from this scope ('workspace' or a channel id); needed when the URI "
                              "is in several.")
def remove(reference: str, scope: str | None) -> None:
    """Remove a document (by its id or its URI) and its passages; questions stop retrieving it at once."""
    from knowledge.removal import RemovalRefused, remove_document

    with _database(f"removing {reference}") as (_, sessions):
        try:
            removed = remove_document(sessions, reference, scopes=[scope] if scope else None)
        except RemovalRefused as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"removed: {removed.title} (document {removed.id}, scope {removed.scope}, {removed.chunks} chunks)")


@cli.command("backfill-headings")
def backfill_headings() -> None:
    """Embed the section headings of passages stored before heading vectors existed (resumable)."""
    from knowledge.heading_vectors import backfill_heading_embeddings

    with _database("backfilling heading vectors") as (_, sessions):
        filled = backfill_heading_embeddings(sessions, _embedder())
    click.echo(f"heading vectors added: {filled}")


def _deployed_ranking_folder(sessions: sessionmaker[Session]) -> str | None:
    """The folder of the ranking model deployed from the team's votes (None: the configured one serves)."""
    from store.ranking_registry import serving_ranking_model

    with sessions() as session:
        return serving_ranking_model(session).folder


@cli.command()
@click.option("--prune", is_flag=True, help="Then delete the vectors of the ranking models that neither serve, nor "
                                            "would serve after a rollback, nor are the configured one.")
def rank(prune: bool) -> None:
    """Compute the serving ranking model's vectors of passages stored without them, and the search vectors of
    rows stored before those were kept (resumable; `add` does it itself)."""
    from knowledge.ranking_model import configured_ranking_name, ranking_off
    from store.config import ModelsSettings
    from store.ranking_registry import RankingChangeBusy, prune_ranking_vectors, ranking_change_lock

    models = ModelsSettings()
    if prune and ranking_off(models.ranking_model):
        raise click.ClickException("--prune keeps the configured ranking model's vectors, and KB_RANKING_MODEL is off")
    with _database("ranking passages") as (_, sessions):
        ranked = _rank_stored(sessions, after_add=False)
        click.echo(f"passages ranked: {ranked}")
        if prune:
            try:
                with ranking_change_lock(sessions.kw["bind"]), sessions.begin() as session:  # never one being readied
                    pruned, kept = prune_ranking_vectors(session, configured_ranking_name(models.ranking_model,
                                                                                          models.models_dir))
            except RankingChangeBusy as exc:
                raise click.ClickException(f"--prune: {exc}") from exc
            click.echo(f"vectors of other ranking models deleted: {pruned} (kept {', '.join(sorted(kept))})")


@cli.command()
def stats() -> None:
    """Count the documents and chunks in the knowledge base."""
    from knowledge.ingest import corpus_stats

    with _database("reading stats") as (_, sessions):
        counts = corpus_stats(sessions)
    click.echo(f"documents: {counts.documents}\nchunks: {counts.chunks}")
    if counts.older_chunking:
        plural = "" if counts.older_chunking == 1 else "s"
        click.echo(f"cut by an older chunker: {counts.older_chunking} document{plural} (add their files or URLs "
                   "again to re-chunk them; URL documents are re-chunked at their next refresh)")


@cli.command("list")
@click.option("--scope", help="Only this scope ('workspace' or a channel id); default: every scope.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000),
              help="Documents to list, most recently updated first.")
def list_command(scope: str | None, limit: int) -> None:
    """List the stored documents: id, scope, chunks, title and URI (what `remove` takes)."""
    from knowledge.catalog import list_documents

    with _database("listing documents") as (_, sessions), sessions() as session:
        documents = list_documents(session, scope=scope, limit=limit)
    if not documents:
        click.echo("no documents" + (f" in scope {scope}" if scope else ""))
    for document in documents:
        click.echo(f"{document.id:>6}  {document.scope:<12} {document.chunks:>5} chunks  "
                   f"{document.updated_at:%Y-%m-%d}  {document.title}\n        {document.uri}")


if __name__ == "__main__":
    cli(prog_name="python -m knowledge")
