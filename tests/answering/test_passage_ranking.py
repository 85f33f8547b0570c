"""The ranking model: its vectors stored through the real ingest, read by the answers' re-ranking, and
computed for the passages an answer read without them (real all-mpnet-base-v2, real database)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete, func, select, text

from bot.answering import Answerer, AnsweringConfig, Question
from bot.reranking import RerankConfig, rerank
from knowledge.ingest import ingest_text
from knowledge.passage_ranking import RANK_BATCH, fill_search_vectors, rank_missing, ranking_scores
from knowledge.search import HEADING_WEIGHT
from store.ranking_vectors import (
    RankingRow,
    chunks_to_rank,
    load_ranking_vectors,
    nearest_by_ranking,
    save_ranking_vectors,
    search_vector,
)
from store.schema import Answer, Chunk, Document, RankingVectors
from tests.answering.handbook import BACKUPS, QUESTION
from tests.answering.test_reranking import _ids, _scored
from tests.scripted_generator import ScriptedGenerator


def _answerer(sessions, embedder, ranker, **config) -> Answerer:  # type: ignore[no-untyped-def]
    return Answerer(sessions=sessions, embedder=embedder, generator=ScriptedGenerator("unused"),
                    config=AnsweringConfig(summarise=False, **config), ranker=ranker)


def _stored(sessions) -> dict[int, str]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return dict(session.execute(select(RankingVectors.chunk_id, RankingVectors.model)).all())


def _plant_backups_as_the_answer(sessions, ranker) -> None:  # type: ignore[no-untyped-def]
    """Rank every chunk, then store vectors for the backups page that say it is the question itself."""
    rank_missing(sessions, ranker)
    with sessions() as session:
        backups = session.scalar(select(Chunk.id).join(Document).where(Document.title == "Backups"))
    planted = ranker.embed([QUESTION])[0]
    with sessions.begin() as session:
        save_ranking_vectors(session, ranker.model_name, [RankingRow(chunk_id=backups, passage=planted,
                                                                     heading=planted)],
                             heading_weight=HEADING_WEIGHT)


def test_the_ranking_scores_replace_the_first_stage_score_in_the_re_ranking() -> None:
    scored = [_scored(1, 0.60, [0.3]), _scored(2, 0.40, [0.3]), _scored(3, 0.50, [0.3])]
    assert _ids(rerank(scored, RerankConfig())) == [1, 3, 2]
    assert _ids(rerank(scored, RerankConfig(), ranking={1: 0.2, 2: 0.7, 3: 0.5})) == [2, 3, 1]
    # The unit term still counts beside the ranking model's score.
    units = [_scored(1, 0.6, [0.9]), _scored(2, 0.4, [0.0])]
    assert _ids(rerank(units, RerankConfig(unit_weight=0.5), ranking={1: 0.30, 2: 0.70})) == [1, 2]
    assert _ids(rerank(units, RerankConfig(unit_weight=0.0), ranking={1: 0.30, 2: 0.70})) == [2, 1]


def test_rank_missing_stores_both_vectors_of_every_chunk_once(handbook, ranker) -> None:
    assert rank_missing(handbook, ranker) == 3
    assert rank_missing(handbook, ranker) == 0, "a second run has nothing left to do"
    with handbook() as session:
        chunk_ids = list(session.scalars(select(Chunk.id)))
        rows = load_ranking_vectors(session, chunk_ids, ranker.model_name)
    assert set(rows) == set(chunk_ids) and ranker.model_name == "all-mpnet-base-v2"
    for row in rows.values():
        assert row.passage.shape == row.heading.shape == (768,)
        assert np.linalg.norm(row.passage) == pytest.approx(1.0, abs=1e-3)
    # What was stored is what the model says of the chunk's embedding input (title above the text).
    with handbook() as session:
        first = session.execute(select(Chunk.id, Chunk.heading, Chunk.text, Document.title)
                                .join(Document).order_by(Chunk.id).limit(1)).one()
    from knowledge.chunking.embedding_text import embedding_input

    fresh = ranker.embed([embedding_input(first.title, first.heading, first.text)])[0]
    assert float(fresh @ rows[first.id].passage) > 0.999


def test_rows_of_another_model_or_damaged_rows_count_as_missing_the_damaged_one_is_rewritten(handbook,
                                                                                                ranker) -> None:
    with handbook() as session:
        chunk_ids = sorted(session.scalars(select(Chunk.id)))
    with handbook.begin() as session:
        unit = np.ones(4, dtype=np.float32) / 2
        save_ranking_vectors(session, "an-older-model", [RankingRow(chunk_id=chunk_ids[0], passage=unit,
                                                                    heading=unit)], heading_weight=0.2)
        save_ranking_vectors(session, ranker.model_name, [RankingRow(chunk_id=chunk_ids[1], passage=unit,
                                                                     heading=unit)], heading_weight=0.2)
        session.execute(RankingVectors.__table__.update().where(RankingVectors.chunk_id == chunk_ids[1])
                        .values(heading=b"\x00"))  # truncated: cannot be read
    with handbook() as session:
        assert [chunk.chunk_id for chunk in chunks_to_rank(session, ranker.model_name, limit=10)] == [
            chunk_ids[0], chunk_ids[2]], "a row of the model, even unreadable, is not missing by name"
        assert load_ranking_vectors(session, chunk_ids, ranker.model_name) == {}, "the damaged row is not read"
    ranking = ranking_scores(handbook, ranker, QUESTION, chunk_ids)
    assert ranking.scores is None and ranking.missing == tuple(chunk_ids)
    # An answer ranks the passages it found unreadable by id: the damaged row is rewritten too.
    assert rank_missing(handbook, ranker, chunk_ids=ranking.missing) == 3
    with handbook() as session:
        rows = sorted(tuple(row) for row in session.execute(select(RankingVectors.chunk_id,
                                                                   RankingVectors.model)))
    assert rows == sorted([(chunk_id, ranker.model_name) for chunk_id in chunk_ids]
                          + [(chunk_ids[0], "an-older-model")]), "another model's row stays beside (revision 0022)"
    assert ranking_scores(handbook, ranker, QUESTION, chunk_ids).scores is not None
    assert rank_missing(handbook, ranker, chunk_ids=chunk_ids) == 0


def test_a_deleted_chunk_takes_its_vectors_with_it_and_saving_for_it_writes_nothing(handbook, ranker) -> None:
    rank_missing(handbook, ranker)
    with handbook.begin() as session:
        doomed = session.scalar(select(Chunk.id).order_by(Chunk.id).limit(1))
        session.execute(delete(Document).where(Document.id == select(Chunk.document_id)
                                               .where(Chunk.id == doomed).scalar_subquery()))
    with handbook() as session:
        assert session.scalar(select(func.count()).select_from(RankingVectors)) == 2
    unit = np.ones(4, dtype=np.float32) / 2
    with handbook.begin() as session:
        assert save_ranking_vectors(session, ranker.model_name,
                                    [RankingRow(chunk_id=doomed, passage=unit, heading=unit)],
                                    heading_weight=0.2) == 0
    with handbook.begin() as session, pytest.raises(ValueError, match="shapes"):
        save_ranking_vectors(session, ranker.model_name,
                             [RankingRow(chunk_id=doomed, passage=unit, heading=np.ones(3, dtype=np.float32))],
                             heading_weight=0.2)


def test_an_answer_read_without_vectors_keeps_the_first_order_then_ranks_what_it_read(handbook, embedder,
                                                                                      ranker) -> None:
    answerer = _answerer(handbook, embedder, ranker)
    prepared = answerer.prepare(Question(text=QUESTION))
    assert len(prepared.unranked) == 3 and _stored(handbook) == {}, "nothing is embedded before the evidence"
    assert prepared.outcome.relevance.ranking is None, "no vectors: the order did not read the ranking model"
    without = _answerer(handbook, embedder, None).prepare(Question(text=QUESTION))
    assert [p.chunk_id for p in prepared.outcome.passages] == [p.chunk_id for p in without.outcome.passages]
    answerer.complete(prepared)
    assert set(_stored(handbook)) == set(prepared.unranked), "completing the answer ranked what it read"
    again = answerer.prepare(Question(text=QUESTION))
    assert again.unranked == ()
    assert again.outcome.passages[0].title == "Incident response"


def test_the_order_follows_the_stored_ranking_vectors(handbook, embedder, ranker) -> None:
    """Vectors planted to say the backups page answers the question put it first: the re-ranking reads them."""
    _plant_backups_as_the_answer(handbook, ranker)
    ranked = _answerer(handbook, embedder, ranker).answer(Question(text=QUESTION))
    assert ranked.passages[0].title == "Backups"
    # the relevance figures keep the ranking model's score of the top passage (the planted rows: the question)
    assert ranked.relevance is not None and ranked.relevance.ranking is not None
    figures = ranked.relevance.ranking
    assert figures.score == pytest.approx(1.0, abs=1e-3)
    assert figures.best == figures.score, "the planted page scores best"
    assert figures.margin is not None and 0 < figures.margin < 1
    with handbook() as session:
        stored = session.scalar(select(Answer.relevance).where(Answer.id == ranked.answer_id))
    assert stored["ranking_score"] == pytest.approx(1.0, abs=1e-3) and stored["ranking_margin"] > 0
    plain = _answerer(handbook, embedder, None).answer(Question(text=QUESTION))
    assert plain.passages[0].title == "Incident response", "without the ranking model the planted rows are unread"
    assert plain.relevance is not None and plain.relevance.ranking is None
    unranked = _answerer(handbook, embedder, ranker, rerank=RerankConfig(depth=0)).answer(Question(text=QUESTION))
    assert unranked.passages[0].title != "Backups", "depth 0 keeps the first stage's order"


def test_rank_missing_for_some_chunks_stops_at_them(handbook, ranker) -> None:
    with handbook() as session:
        chunk_ids = sorted(session.scalars(select(Chunk.id)))
    assert rank_missing(handbook, ranker, chunk_ids=chunk_ids[:1]) == 1
    assert set(_stored(handbook)) == {chunk_ids[0]}
    assert rank_missing(handbook, ranker, chunk_ids=[]) == 0
    counted: list[int] = []
    assert rank_missing(handbook, ranker, progress=counted.append) == 2 and counted == [2] and RANK_BATCH > 2


def test_when_the_ranking_vectors_cannot_be_read_the_answer_keeps_the_first_order(handbook, embedder, ranker,
                                                                                 caplog) -> None:
    rank_missing(handbook, ranker)
    plain = _answerer(handbook, embedder, None).answer(Question(text=QUESTION))
    with handbook.begin() as session:
        session.execute(text("ALTER TABLE ranking_vectors RENAME TO ranking_vectors_away"))
    try:
        answered = _answerer(handbook, embedder, ranker).answer(Question(text=QUESTION))
    finally:
        with handbook.begin() as session:
            session.execute(text("ALTER TABLE ranking_vectors_away RENAME TO ranking_vectors"))
    assert not answered.abstained and answered.text == plain.text
    assert [p.chunk_id for p in answered.passages] == [p.chunk_id for p in plain.passages]
    assert "ranking vectors not read" in caplog.text


def test_while_more_questions_wait_for_their_evidence_than_allowed_the_ranking_model_is_not_read(
        handbook, embedder, ranker) -> None:
    """The ranking model's query embedding is the costliest step before the evidence: under a burst the
    later questions take the best-unit order (the planted vectors would put the backups page first)."""
    _plant_backups_as_the_answer(handbook, ranker)
    waiting = [1]
    answerer = Answerer(sessions=handbook, embedder=embedder, generator=ScriptedGenerator("unused"),
                        config=AnsweringConfig(summarise=False, rerank=RerankConfig(ranking_max_waiting=2)),
                        ranker=ranker, waiting=lambda: waiting[0])
    assert answerer.answer(Question(text=QUESTION)).passages[0].title == "Backups"
    waiting[0] = 3
    busy = answerer.answer(Question(text=QUESTION))
    assert busy.passages[0].title == "Incident response", "the best-unit order, as without the ranking model"
    waiting[0] = 2
    assert answerer.answer(Question(text=QUESTION)).passages[0].title == "Backups"
    with pytest.raises(ValueError, match="ranking_max_waiting"):
        RerankConfig(ranking_max_waiting=-1)


def test_the_ranking_models_own_search_finds_a_passage_the_first_stage_left_out(handbook, embedder, ranker) -> None:
    """Re-ordering only the first stage's top passage (depth 1), the backups page, planted to be the
    question itself, is reached only through the ranking model's own search."""
    _plant_backups_as_the_answer(handbook, ranker)
    searched = _answerer(handbook, embedder, ranker, rerank=RerankConfig(depth=1, ranking_search=1)).answer(
        Question(text=QUESTION))
    assert searched.passages[0].title == "Backups"
    assert searched.relevance is not None and searched.relevance.ranking is not None
    assert searched.relevance.ranking.score == pytest.approx(1.0, abs=1e-2)
    assert len({p.chunk_id for p in searched.passages}) == len(searched.passages), "no passage twice"
    alone = _answerer(handbook, embedder, ranker, rerank=RerankConfig(depth=1, ranking_search=0)).answer(
        Question(text=QUESTION))
    first_stage = _answerer(handbook, embedder, None, rerank=RerankConfig(depth=0)).answer(Question(text=QUESTION))
    assert alone.passages[0].title == first_stage.passages[0].title != "Backups", \
        "without it the first stage's top passage stays first"
    with pytest.raises(ValueError, match="ranking_search"):
        RerankConfig(ranking_search=-1)


def test_the_ranking_search_reads_its_scopes_model_and_width_and_skips_what_it_is_told(handbook, ranker) -> None:
    _plant_backups_as_the_answer(handbook, ranker)
    question = ranker.embed_query(QUESTION)
    with handbook() as session:
        backups = session.scalar(select(Chunk.id).join(Document).where(Document.title == "Backups"))
        other = session.scalar(select(Chunk.id).where(Chunk.id != backups).order_by(Chunk.id).limit(1))
    with handbook.begin() as session:  # another model's rows, of another width, are never read
        session.execute(RankingVectors.__table__.update().where(RankingVectors.chunk_id == other)
                        .values(model="a-small-model", search=np.ones(4, dtype=np.float32).tolist()))
    with handbook() as session, session.begin():
        found = nearest_by_ranking(session, ranker.model_name, question, scopes=["workspace"], limit=5)
        assert found[0] == backups and other not in found and len(found) == 2
        assert backups not in nearest_by_ranking(session, ranker.model_name, question, scopes=["workspace"],
                                                 limit=5, exclude=[backups])
        assert nearest_by_ranking(session, ranker.model_name, question, scopes=["C-private"], limit=5) == []
        assert nearest_by_ranking(session, ranker.model_name, question, scopes=["workspace"], limit=0) == []
        scopes = dict(session.execute(select(RankingVectors.chunk_id, RankingVectors.scope)).all())
    assert set(scopes.values()) == {"workspace"}, "each row keeps its chunk's scope"


def test_rows_stored_before_the_search_vector_get_it_from_their_own_vectors(handbook, ranker) -> None:
    rank_missing(handbook, ranker)
    with handbook() as session:
        chunk_ids = sorted(session.scalars(select(Chunk.id)))
        rows = load_ranking_vectors(session, chunk_ids, ranker.model_name)
    with handbook.begin() as session:  # as rows written before revision 0021, or by older code: no scope
        session.execute(RankingVectors.__table__.update().values(search=None, scope=None))
    question = ranker.embed_query(QUESTION)
    with handbook() as session, session.begin():
        assert nearest_by_ranking(session, ranker.model_name, question, scopes=["workspace"], limit=3) == []
    assert fill_search_vectors(handbook, ranker.model_name) == 3
    assert fill_search_vectors(handbook, ranker.model_name) == 0, "nothing is left to fill"
    with handbook() as session:
        assert set(session.scalars(select(RankingVectors.scope))) == {"workspace"}, "the scope comes back too"
    with handbook() as session, session.begin():
        found = nearest_by_ranking(session, ranker.model_name, question, scopes=["workspace"], limit=3)
    scores = ranking_scores(handbook, ranker, QUESTION, chunk_ids).scores
    assert scores is not None and sorted(found) == chunk_ids
    assert found == sorted(chunk_ids, key=lambda chunk_id: -scores[chunk_id]), "ordered as the ranking scores"
    mixed = search_vector(rows[chunk_ids[0]], HEADING_WEIGHT)
    assert float(mixed @ question) == pytest.approx(scores[chunk_ids[0]], abs=1e-6)


def test_a_damaged_row_without_its_search_vector_is_passed_over_not_looped_on(handbook, ranker) -> None:
    rank_missing(handbook, ranker)
    with handbook() as session:
        first, *others = sorted(session.scalars(select(Chunk.id)))
    with handbook.begin() as session:
        session.execute(RankingVectors.__table__.update().values(search=None))
        session.execute(RankingVectors.__table__.update().where(RankingVectors.chunk_id == first)
                        .values(heading=b"\x00"))  # truncated: cannot be read
    assert fill_search_vectors(handbook, ranker.model_name) == 2
    with handbook() as session:
        unfilled = set(session.scalars(select(RankingVectors.chunk_id).where(RankingVectors.search.is_(None))))
    assert unfilled == {first}, "left for the answers to rewrite"
    assert rank_missing(handbook, ranker, chunk_ids=[first]) == 1, "an answer reading it rewrites it whole"
    with handbook() as session:
        assert session.scalar(select(RankingVectors.search).where(RankingVectors.chunk_id == first)) is not None


def test_a_copy_of_a_passage_the_ranking_search_adds_is_read_once(handbook, embedder, ranker) -> None:
    """Documentation repeats sections: the search's own two nearest are the backups page and its copy
    (both planted as the question), and only the first reaches the answer's sources."""
    _, body = BACKUPS  # a page that carries the backups section again under one of its own
    ingest_text(handbook, embedder, title="Operations", text="# Operations\n\nThe ops rota changes on Mondays.\n\n"
                + body.replace("# Backups", "## Backups"), fmt="markdown", uri="doc:operations", source="text",
                scope="workspace")
    rank_missing(handbook, ranker)
    planted = ranker.embed([QUESTION])[0]
    with handbook() as session:
        copies = [chunk.id for chunk in session.scalars(select(Chunk)) if "snapshotted every night" in chunk.text]
    with handbook.begin() as session:
        save_ranking_vectors(session, ranker.model_name, [RankingRow(chunk_id=chunk_id, passage=planted,
                                                                     heading=planted) for chunk_id in copies],
                             heading_weight=HEADING_WEIGHT)
    answer = _answerer(handbook, embedder, ranker, rerank=RerankConfig(depth=1, ranking_search=2)).answer(
        Question(text=QUESTION))
    texts = [" ".join(p.text.split()) for p in answer.passages]
    assert len(copies) == 2 and "snapshotted every night" in answer.passages[0].text
    assert len(texts) == len(set(texts)), "the copy's text is not read twice"
