"""Passages' unit vectors are kept once a question has embedded them, and never decide an answer.

Through the real ingest, the real embedder and the embedded Postgres: the second question over the
same passages embeds only itself, quotes the same evidence and checks the summary the same way; a
row written by another embedder or for other unit texts is recomputed; a damaged row, a deleted
chunk, or a database that cannot read or write the table leave answers as they were.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select, text, update

from bot.answering import Answerer, AnsweringConfig, Question
from bot.unit_vector_cache import UnitVectorCache, units_digest
from knowledge.ingest import ingest_text
from store.schema import Chunk, Document, UnitVectors
from store.unit_vectors import StoredUnitVectors, load_unit_vectors, save_unit_vectors
from tests.recording_embedder import RecordingEmbedder
from tests.scripted_generator import ScriptedGenerator

VPN = ("VPN guide", "# VPN\n\nTo connect to the office VPN install WireGuard and import the profile from the IT "
                    "portal. The VPN server is vpn.example.com on port 51820.\n\n- Ask IT for a profile.\n"
                    "- Import it into WireGuard.")
DEPLOY = ("Deploys", "# Deploying\n\nTo deploy the API merge to main; the CI pipeline runs the tests and then "
                     "deploys to production with ArgoCD. A deploy takes about 4 minutes.")


class CountingEmbedder(RecordingEmbedder):
    """The real embedder, keeping each `embed_documents` call's texts, under a name of its own."""

    model_name = "all-MiniLM-L6-v2 (counting)"


@pytest.fixture
def knowledge_base(sessions, embedder):
    for title, body in (VPN, DEPLOY):
        ingest_text(sessions, embedder, title=title, text=body, fmt="markdown", uri=f"doc:{title}", source="text")
    return sessions


def _answerer(sessions, embedder, **config) -> Answerer:
    return Answerer(sessions=sessions, embedder=embedder, config=AnsweringConfig(**config),
                    generator=ScriptedGenerator("Install WireGuard and import the IT portal profile [1]."))


QUESTION = Question(text="how do I get on the office vpn?", channel="C1")


def test_the_second_question_reads_the_stored_vectors_and_answers_the_same(knowledge_base, embedder) -> None:
    counting = CountingEmbedder(embedder)
    answerer = _answerer(knowledge_base, counting)
    first = answerer.answer(QUESTION)
    embedded_first = sum(len(batch) for batch in counting.calls)
    counting.calls.clear()
    second = answerer.answer(QUESTION)
    assert embedded_first >= 4  # the units of the passages read (the question goes through embed_query)
    # The second time only the generated summary is embedded (for its support check), no unit.
    assert counting.calls == [["Install WireGuard and import the IT portal profile [1]."]]
    assert second.text == first.text and second.summary == first.summary
    assert [v.supported for v in second.verdicts] == [v.supported for v in first.verdicts]
    with knowledge_base() as session:
        rows = session.execute(select(UnitVectors.chunk_id, UnitVectors.model, UnitVectors.count)).all()
        chunk_ids = set(session.scalars(select(Chunk.id)))
    assert {row.chunk_id for row in rows} == chunk_ids  # both passages were read
    assert all(row.model == CountingEmbedder.model_name and row.count >= 1 for row in rows)


def test_stored_vectors_are_the_embedders_own_to_float16_precision(knowledge_base, embedder) -> None:
    _answerer(knowledge_base, embedder).answer(QUESTION)
    with knowledge_base() as session:
        chunk = session.scalars(select(Chunk).order_by(Chunk.id)).first()
        stored = load_unit_vectors(session, [chunk.id])[chunk.id]
    from bot.unit_scoring import passage_units
    from store.types import Passage

    units = passage_units(Passage(chunk_id=chunk.id, document_id=chunk.document_id, title="", uri="",
                                  heading=chunk.heading, text=chunk.text, score=0.0, scope="workspace"))
    fresh = np.asarray(embedder.embed_documents([unit.text for unit in units]), dtype=np.float32)
    assert stored.digest == units_digest(units) and stored.vectors.shape == fresh.shape
    assert float(np.min(np.sum(stored.vectors * fresh, axis=1))) > 0.9999


def test_rows_from_another_embedder_or_other_unit_texts_are_recomputed(knowledge_base, embedder) -> None:
    counting = CountingEmbedder(embedder)
    answerer = _answerer(knowledge_base, counting, summarise=False)
    answerer.answer(QUESTION)
    with knowledge_base() as session, session.begin():
        first, second = session.scalars(select(UnitVectors.chunk_id).order_by(UnitVectors.chunk_id)).all()
        session.execute(update(UnitVectors).where(UnitVectors.chunk_id == first).values(model="another model"))
        session.execute(update(UnitVectors).where(UnitVectors.chunk_id == second).values(digest="0" * 64))
    counting.calls.clear()
    answerer.answer(QUESTION)
    assert len(counting.calls) == 1  # both passages' units, in one call
    with knowledge_base() as session:
        rows = session.execute(select(UnitVectors.model, UnitVectors.digest)).all()
    assert all(row.model == CountingEmbedder.model_name and row.digest != "0" * 64 for row in rows)
    counting.calls.clear()
    answerer.answer(QUESTION)
    assert counting.calls == []


def test_a_damaged_row_is_read_as_absent_and_rewritten(knowledge_base, embedder) -> None:
    counting = CountingEmbedder(embedder)
    answerer = _answerer(knowledge_base, counting, summarise=False)
    expected = answerer.answer(QUESTION).text
    with knowledge_base() as session, session.begin():
        session.execute(update(UnitVectors).values(vectors=b"\x00\x01\x02"))
    counting.calls.clear()
    assert answerer.answer(QUESTION).text == expected
    assert len(counting.calls) == 1
    with knowledge_base() as session:
        assert all(len(load_unit_vectors(session, [chunk_id])) == 1
                   for chunk_id in session.scalars(select(UnitVectors.chunk_id)))


def test_rows_go_with_their_chunk_and_are_never_written_for_a_missing_one(knowledge_base) -> None:
    vectors = np.ones((2, 384), dtype=np.float32) / np.sqrt(384)
    with knowledge_base() as session, session.begin():
        chunk_id = session.scalars(select(Chunk.id).order_by(Chunk.id)).first()
        written = save_unit_vectors(session, [
            StoredUnitVectors(chunk_id=chunk_id, model="m", digest="d", vectors=vectors),
            StoredUnitVectors(chunk_id=10_000, model="m", digest="d", vectors=vectors)])
    assert written == 1
    with pytest.raises(ValueError, match="shape"), knowledge_base() as session:
        save_unit_vectors(session, [StoredUnitVectors(chunk_id=chunk_id, model="m", digest="d",
                                                      vectors=np.ones((2, 10)))])
    with knowledge_base() as session, session.begin():
        session.execute(Document.__table__.delete())
    with knowledge_base() as session:
        assert session.scalar(select(UnitVectors.chunk_id)) is None


def test_answers_do_not_depend_on_the_table(knowledge_base, embedder, caplog) -> None:
    """Reading or writing the stored vectors failing (here: the table is gone) embeds the units as before."""
    expected = _answerer(knowledge_base, embedder, unit_vector_cache=False).answer(QUESTION)
    with knowledge_base() as session:
        assert session.scalar(select(UnitVectors.chunk_id)) is None  # the cache was off
    with knowledge_base() as session, session.begin():
        session.execute(text("ALTER TABLE unit_vectors RENAME TO unit_vectors_away"))
    try:
        result = _answerer(knowledge_base, embedder).answer(QUESTION)
    finally:
        with knowledge_base() as session, session.begin():
            session.execute(text("ALTER TABLE unit_vectors_away RENAME TO unit_vectors"))
    assert result.text == expected.text and not result.abstained
    assert "stored unit vectors could not be read" in caplog.text
    assert "unit vectors could not be stored" in caplog.text


def test_the_cache_serves_only_what_it_was_asked_for(knowledge_base, embedder) -> None:
    """Passages come back in the order asked, each with as many vectors as it has units."""
    from bot.unit_scoring import passage_units
    from knowledge.search import search_passages

    passages = search_passages(knowledge_base, embedder, "deploy the API", limit=2)
    cache = UnitVectorCache(knowledge_base, embedder.embed_documents, "m")
    units = [passage_units(passage) for passage in passages]
    cold = cache(passages, units)
    warm = cache(list(reversed(passages)), list(reversed(units)))
    assert [len(vectors) for vectors in cold] == [len(u) for u in units]
    assert np.allclose(warm[0], cold[1], atol=2e-3) and np.allclose(warm[1], cold[0], atol=2e-3)


def test_writers_of_the_same_passages_in_opposite_rankings_wait_for_each_other_instead_of_deadlocking(
        knowledge_base) -> None:
    """Two questions storing the same chunks in opposite orders: the rows are locked in id order.

    Session A holds the lower chunk's row (written, not committed); a writer given [higher, lower]
    must then wait on the lower before it touches the higher, so A can still write the higher and
    commit. Written in the order given, the writer would hold the higher and Postgres would abort
    one of them as a deadlock after `deadlock_timeout` (a burst of first questions did exactly that).
    """
    import threading

    vectors = np.ones((1, 384), dtype=np.float32) / np.sqrt(384)
    with knowledge_base() as session:
        lower, higher = session.scalars(select(Chunk.id).order_by(Chunk.id).limit(2)).all()

    def row(chunk_id: int, digest: str) -> StoredUnitVectors:
        return StoredUnitVectors(chunk_id=chunk_id, model="m", digest=digest, vectors=vectors)

    failures: list[BaseException] = []

    def other_writer() -> None:
        try:
            with knowledge_base() as session, session.begin():
                save_unit_vectors(session, [row(higher, "b"), row(lower, "b")])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    with knowledge_base() as first, first.begin():
        save_unit_vectors(first, [row(lower, "a")])
        writer = threading.Thread(target=other_writer)
        writer.start()
        writer.join(timeout=0.3)  # it is now waiting on the lower chunk's row
        assert writer.is_alive()
        first.execute(text("SET LOCAL lock_timeout = '5s'"))
        save_unit_vectors(first, [row(higher, "a")])  # must not wait on the other writer
    writer.join(timeout=10)
    assert not writer.is_alive() and failures == []
    with knowledge_base() as session:
        stored = load_unit_vectors(session, [lower, higher])
    assert {stored[lower].digest, stored[higher].digest} == {"b"}  # the later writer won both rows


def _cold_passages(knowledge_base, embedder):
    from bot.unit_scoring import passage_units
    from knowledge.search import search_passages

    passages = search_passages(knowledge_base, embedder, "connect to the office VPN", limit=2)
    return passages, [passage_units(passage) for passage in passages]


class _GatedEmbed:
    """The real embedder's `embed_documents`, holding its first call until released, counting texts."""

    def __init__(self, embedder, *, fail_first: bool = False) -> None:
        import threading

        self._embedder, self._fail_first = embedder, fail_first
        self.entered, self.release = threading.Event(), threading.Event()
        self.texts: list[str] = []
        self.calls = 0

    def __call__(self, texts):
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            assert self.release.wait(timeout=30)
            if self._fail_first:
                raise RuntimeError("embedder crashed")
        self.texts += list(texts)
        return self._embedder.embed_documents(texts)


def _ask_concurrently(cache, passages, units, gate):
    """Two questions over the same cold passages: the second arrives while the first is embedding."""
    import threading

    results: dict[str, object] = {}

    def ask(name: str) -> None:
        try:
            results[name] = cache(passages, units)
        except BaseException as exc:  # noqa: BLE001 - asserted by the caller
            results[name] = exc

    first = threading.Thread(target=ask, args=("first",))
    first.start()
    assert gate.entered.wait(timeout=30)
    second = threading.Thread(target=ask, args=("second",))
    second.start()
    second.join(timeout=0.5)  # it finds the passages claimed and waits instead of embedding them
    gate.release.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert not first.is_alive() and not second.is_alive()
    return results


def test_questions_needing_the_same_new_passages_at_once_embed_them_once(knowledge_base, embedder) -> None:
    """A burst's first questions retrieve the same passages: one embeds their units, the others wait."""
    passages, units = _cold_passages(knowledge_base, embedder)
    gate = _GatedEmbed(embedder)
    cache = UnitVectorCache(knowledge_base, gate, "m")
    results = _ask_concurrently(cache, passages, units, gate)
    assert gate.calls == 1 and len(gate.texts) == sum(len(u) for u in units)
    first, second = results["first"], results["second"]
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))  # type: ignore[arg-type]
    with knowledge_base() as session:
        assert set(load_unit_vectors(session, [p.chunk_id for p in passages])) == {p.chunk_id for p in passages}
    assert cache._in_flight == {}  # noqa: SLF001 - every claim is released


def test_without_single_flight_each_question_embeds_the_passages_itself(knowledge_base, embedder) -> None:
    """The baseline bench/unit_vector_herd.py measures against: the second question does not wait."""
    passages, units = _cold_passages(knowledge_base, embedder)
    gate = _GatedEmbed(embedder)
    cache = UnitVectorCache(knowledge_base, gate, "m", single_flight=False)
    results = _ask_concurrently(cache, passages, units, gate)
    assert gate.calls == 2 and len(gate.texts) == 2 * sum(len(u) for u in units)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(results["first"], results["second"], strict=True))  # type: ignore[call-overload]


def test_when_the_embedding_question_fails_the_waiting_one_embeds_the_units_itself(knowledge_base, embedder) -> None:
    passages, units = _cold_passages(knowledge_base, embedder)
    gate = _GatedEmbed(embedder, fail_first=True)
    cache = UnitVectorCache(knowledge_base, gate, "m")
    results = _ask_concurrently(cache, passages, units, gate)
    assert isinstance(results["first"], RuntimeError)
    assert [len(vectors) for vectors in results["second"]] == [len(u) for u in units]  # type: ignore[union-attr]
    assert len(gate.texts) == sum(len(u) for u in units)  # embedded once, by the waiter
    with knowledge_base() as session:  # and stored by it
        assert set(load_unit_vectors(session, [p.chunk_id for p in passages])) == {p.chunk_id for p in passages}
    assert cache._in_flight == {}  # noqa: SLF001
