"""The ranking model: a larger sentence model that re-orders the search's top passages (store + model).

The first stage searches all-MiniLM-L6-v2 vectors through an HNSW index (fast at a million chunks,
384 wide, `knowledge/search.py`); on teammate wording it often ranks the right section second. A
larger model reads questions and passages better: all-mpnet-base-v2 (the bundled default,
`knowledge/ranking_model.py`) scoring only the first stage's top passages put the right FAQ section
first for 0.79 of the blind second holdout against 0.65 for the first stage (bench/quality.py).
It is 110M parameters and 768 wide, too slow to embed every passage on the way to the first quote,
so each chunk's two vectors (its embedding input and its heading, as the first stage embeds them)
are computed once, after the chunk is stored (`rank_missing`: `kbbot kb add` does it at once, the
answers for the passages they read after their evidence is shown), and kept in `ranking_vectors`.

A passage's ranking score mixes its two cosines to the question as the first stage does
(`HEADING_WEIGHT` on the heading). `ranking_scores` gives scores only when every passage asked about
has vectors: mixing two models' scales in one order would rank by whichever model scored higher.

The ranking model also searches on its own (`ranking_search`): each row keeps the mix of its two
vectors, whose inner product with the question's vector is the ranking score, in an HNSW index
(revision 0021), and the answers add its nearest passages to the first stage's before re-ordering
them, so a section MiniLM ranks below its top 20 can still be found (`RerankConfig.ranking_search`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from knowledge.chunking.embedding_text import embedding_input, heading_leaf
from knowledge.heading_vectors import embed_heading_leaves
from knowledge.search import HEADING_WEIGHT, passages_by_id
from store.ranking_vectors import (
    ChunkToRank,
    RankingRow,
    chunk_texts,
    chunks_to_rank,
    load_ranking_vectors,
    nearest_by_ranking,
    rows_without_search,
    save_ranking_vectors,
    save_search_vectors,
    search_vector,
)
from store.types import Passage

if TYPE_CHECKING:
    from knowledge.embedding import SentenceTransformerEmbedder
    from knowledge.onnx_embedding import OnnxEmbedder


RANK_BATCH = 32
"""Chunks embedded and stored per transaction by `rank_missing`."""


class PassageRanker:
    """The ranking model, loaded once; safe to share between threads.

    Passages are embedded by sentence-transformers on PyTorch, loaded on first use (`kbbot kb add`, or
    an answer ranking the passages it read without vectors). Questions are embedded by ONNX Runtime
    when `query_onnx` holds an export of the same model (`kbbot setup-model` writes one): the same
    vectors (fp32; cosine 1.000 to PyTorch's on the bench's questions) at ~23 ms a question here,
    without waking PyTorch's thread pool in an answering process that otherwise never uses it (its
    spinning threads took the cores a burst's evidence needed: bench/burst.py).

    Args:
        folder: a sentence-transformers model folder (`knowledge.ranking_model.ensure_ranking_model`).
        bfloat16: embed passages in bfloat16: twice the passages a second of float32 here, vectors at
            cosine >= 0.999 to float32's; None (the default): where the CPU computes it natively
            (`cpu_computes_bf16`), decided when the passage model loads, so a process that only
            embeds questions never imports PyTorch for it.
        name: what the stored rows say computed them; default the folder's name, so one model's rows
            stay valid wherever the folder lives and whichever precision computed them.
        query_onnx: the folder of the model's ONNX export (`knowledge.onnx_export`), or None to embed
            questions with PyTorch too.
    """

    def __init__(self, folder: Path, *, bfloat16: bool | None = None, name: str | None = None,
                 query_onnx: Path | None = None) -> None:
        self.model_name = name or Path(folder).name
        self._folder = Path(folder)
        self._bfloat16 = bfloat16
        self._passages: SentenceTransformerEmbedder | None = None
        self._loading = threading.Lock()
        self._queries: OnnxEmbedder | None = None
        if query_onnx is not None:
            from knowledge.onnx_embedding import OnnxEmbedder
            from knowledge.onnx_export import describe_source

            self._queries = OnnxEmbedder(query_onnx, quantized=False, expected_source=describe_source(folder),
                                         width=None)

    @property
    def query_backend(self) -> str:
        """How questions are embedded: `onnx` or `torch`."""
        return "onnx" if self._queries is not None else "torch"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of passages (or headings), one row each (float32)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.asarray(self._passage_model().embed_documents(list(texts)), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """The unit vector of a question (float32)."""
        if self._queries is not None:
            return np.asarray(self._queries.embed_query(text), dtype=np.float32)
        return self.embed([text])[0]

    def _passage_model(self) -> SentenceTransformerEmbedder:
        with self._loading:
            if self._passages is None:
                from knowledge.cpu_arithmetic import cpu_computes_bf16
                from knowledge.embedding import SentenceTransformerEmbedder

                bfloat16 = cpu_computes_bf16() if self._bfloat16 is None else self._bfloat16
                self._passages = SentenceTransformerEmbedder(self._folder, bfloat16=bfloat16, batch_size=16,
                                                             width=None)
            return self._passages


def rank_missing(sessions: sessionmaker[Session], ranker: PassageRanker, *, chunk_ids: Sequence[int] | None = None,
                 progress: Callable[[int], None] | None = None) -> int:
    """Compute and store the ranking vectors of every chunk still without them, or of those of `chunk_ids`
    without readable ones (a damaged row is rewritten).

    Batches of `RANK_BATCH`, each stored in its own transaction, so an interrupted run keeps what it
    did and the next one continues; `progress` gets the running count. Returns the chunks ranked.
    """
    if chunk_ids is not None:
        with sessions() as session:
            readable = load_ranking_vectors(session, chunk_ids, ranker.model_name)
            todo = chunk_texts(session, sorted(set(chunk_ids) - set(readable)))
        batches = [todo[start:start + RANK_BATCH] for start in range(0, len(todo), RANK_BATCH)]
        return sum(_rank_batch(sessions, ranker, batch, done=RANK_BATCH * index, progress=progress)
                   for index, batch in enumerate(batches))
    done = 0
    while True:
        with sessions() as session:
            batch = chunks_to_rank(session, ranker.model_name, limit=RANK_BATCH)
        if not batch:
            return done
        done += _rank_batch(sessions, ranker, batch, done=done, progress=progress)


SEARCH_FILL_BATCH = 500
"""Rows given their search vector per transaction by `fill_search_vectors`."""


def fill_search_vectors(sessions: sessionmaker[Session], model: str) -> int:
    """Give the rows stored without a search vector (before revision 0021) theirs, from the two vectors they
    hold (no model call), and their chunk's scope; each batch in its own transaction, damaged rows passed
    over (the answers rewrite them). Returns the rows filled.

    A one-time backfill: `kbbot kb rank` runs it (the release does), not every `add`, since finding none
    left reads the whole table."""
    filled, after = 0, 0
    while True:
        with sessions.begin() as session:
            rows, last = rows_without_search(session, model, after=after, limit=SEARCH_FILL_BATCH)
            if last is None:
                return filled
            filled += save_search_vectors(session, model, rows, heading_weight=HEADING_WEIGHT)
            after = last


def _rank_batch(sessions: sessionmaker[Session], ranker: PassageRanker, batch: Sequence[ChunkToRank], *, done: int,
                progress: Callable[[int], None] | None) -> int:
    """Embed and store one batch in its own transaction; returns its size."""
    rows = ranking_rows(ranker, batch)
    with sessions.begin() as session:
        save_ranking_vectors(session, ranker.model_name, rows, heading_weight=HEADING_WEIGHT)
    if progress is not None:
        progress(done + len(batch))
    return len(batch)


@dataclass(frozen=True, slots=True)
class Ranking:
    """The ranking model's verdict on some passages: their scores, or which of them lack vectors."""

    scores: dict[int, float] | None
    """Chunk id -> ranking score; None when any passage lacks vectors (`missing`)."""
    missing: tuple[int, ...] = ()


def ranking_scores(sessions: sessionmaker[Session], ranker: PassageRanker, query: str,
                   chunk_ids: Sequence[int], *, question: np.ndarray | None = None) -> Ranking:
    """Each chunk's ranking score for `query`, if every one of `chunk_ids` has vectors (else which do not).

    The question is embedded only when the scores will be used (`question`: its vector when the caller
    has it already).
    """
    if not chunk_ids:
        return Ranking(None)
    with sessions() as session:
        stored = load_ranking_vectors(session, chunk_ids, ranker.model_name)
    missing = tuple(sorted(set(chunk_ids) - set(stored)))
    if missing:
        return Ranking(None, missing)
    if question is None:
        question = ranker.embed_query(query)
    return Ranking({chunk_id: float(search_vector(row, HEADING_WEIGHT) @ question) for chunk_id, row in stored.items()})


def ranking_search(sessions: sessionmaker[Session], ranker: PassageRanker, question: np.ndarray,
                   query_vector: Sequence[float], *, scopes: Sequence[str], limit: int,
                   exclude: Sequence[int] = ()) -> list[Passage]:
    """The `limit` passages in `scopes` (other than `exclude`) the ranking model scores highest for the
    question (`question`: its vector from the ranking model), best first, each scored as the first stage
    scores its own (`query_vector`: the question's first-stage embedding) so they join its passages."""
    with sessions() as session, session.begin():
        chunk_ids = nearest_by_ranking(session, ranker.model_name, question, scopes=scopes, limit=limit,
                                       exclude=exclude)
        return passages_by_id(session, chunk_ids, query_vector)


def ranking_rows(ranker: PassageRanker, chunks: Sequence[ChunkToRank]) -> list[RankingRow]:
    """The two vectors of each chunk; a heading shared by several chunks is embedded once."""
    passages = ranker.embed([embedding_input(chunk.title, chunk.heading, chunk.text) for chunk in chunks])
    headings = embed_heading_leaves(lambda texts: list(ranker.embed(texts)),
                                    [heading_leaf(chunk.title, chunk.heading) for chunk in chunks])
    return [RankingRow(chunk_id=chunk.chunk_id, passage=passage, heading=heading)
            for chunk, passage, heading in zip(chunks, passages, headings, strict=True)]
